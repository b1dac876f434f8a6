//! `polyclip index` and `polyclip serve` end to end, over the loopback only: an index of held-out pictures of
//! the embedded dataset made by the main job's fine-tuned model (tests/fixtures/make_serve_fixture.py), every
//! API answer checked against what the picture or another command says, every bad input answered in one line,
//! and the page rendered by a real headless Chromium.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .canonicalize()
        .unwrap()
}

fn model() -> String {
    fixtures()
        .join("models/shapes_capivara")
        .display()
        .to_string()
}

/// Runs polyclip in `cwd`.
fn polyclip_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_polyclip"));
    command.current_dir(cwd).args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run polyclip");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// The fixture's pictures and their captions, in manifest order.
fn captions() -> Vec<(String, String)> {
    std::fs::read_to_string(fixtures().join("serve/pictures.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            (
                record["image"].as_str().unwrap().to_owned(),
                record["captions"][0].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A folder with the fixture's pictures and manifest, indexed into `index` with relative paths, as a user
/// types them.
/// `polyclip index` of the fixture's `pictures.jsonl` with the fixture model into `out` (in `dir`), then `extra`.
fn index_pictures(dir: &Path, out: &str, extra: &[&str]) -> (bool, String, String) {
    let model = model();
    let mut args = vec![
        "index",
        "--model",
        &model,
        "--images",
        "pictures.jsonl",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    polyclip_in(dir, &args, &[])
}

fn indexed_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("serve"), dir.path());
    let (ok, _, stderr) = index_pictures(dir.path(), "index", &[]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("polyclip: index holds 12 pictures"),
        "{stderr}"
    );
    dir
}

/// Three machines each index a third of the pictures (`--shard-index I --num-shards 3`); `merge-index` puts the
/// parts together into the index one machine makes: the same pictures in the same order, the same captions, the
/// same embeddings (within 1e-5: the parts embed in other batches), and pictures named relative to the new folder.
#[test]
fn an_index_made_in_parts_and_merged_is_the_index_made_at_once() {
    let dir = indexed_folder();
    let mut parts = Vec::new();
    for index in ["0", "1", "2"] {
        let part = format!("part{index}");
        let (ok, _, stderr) = index_pictures(
            dir.path(),
            &part,
            &["--shard-index", index, "--num-shards", "3"],
        );
        assert!(ok, "{stderr}");
        assert!(
            stderr.contains(&format!("polyclip: {part} holds 4 pictures")),
            "{stderr}"
        );
        parts.push(part);
    }
    let mut args = vec!["merge-index", "--out", "merged"];
    args.extend(parts.iter().map(String::as_str));
    let (ok, _, stderr) = polyclip_in(dir.path(), &args, &[]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("polyclip: merged 3 parts into merged: 12 pictures"),
        "{stderr}"
    );
    let read = |index: &str| {
        let items = std::fs::read_to_string(dir.path().join(index).join("items.jsonl")).unwrap();
        let bytes = std::fs::read(dir.path().join(index).join("embeddings.f32")).unwrap();
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (items, values)
    };
    let (merged_items, merged_values) = read("merged");
    let (whole_items, whole_values) = read("index");
    assert_eq!(merged_items, whole_items);
    assert_eq!(merged_values.len(), whole_values.len());
    for (a, b) in merged_values.iter().zip(&whole_values) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    // Merging into an existing index is refused.
    let (ok, _, stderr) = polyclip_in(
        dir.path(),
        &["merge-index", "--out", "merged", "part0"],
        &[],
    );
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "error: merged: already an index; merge into a new folder"
    );
}

/// A running server, stopped when dropped.
struct Server {
    child: Child,
    addr: String,
    log: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `polyclip serve ARGS --addr 127.0.0.1:0` in `cwd` and reads the address it prints.
fn serve(cwd: &Path, args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_polyclip"))
        .current_dir(cwd)
        .arg("serve")
        .args(args)
        .args(["--addr", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start polyclip serve");
    let stderr = child.stderr.take().unwrap();
    // Owned from here on: a failed assertion kills the server on the way out.
    let mut server = Server {
        child,
        addr: String::new(),
        log: String::new(),
    };
    let mut stderr = BufReader::new(stderr);
    loop {
        let mut line = String::new();
        let read = stderr.read_line(&mut line).unwrap();
        assert!(
            read > 0,
            "the server stopped before serving:\n{}",
            server.log
        );
        server.log.push_str(&line);
        if let Some(at) = line.find(" at http://") {
            server.addr = line[at + " at http://".len()..].trim().to_owned();
            // Keep reading stderr so the server never blocks on a full pipe.
            std::thread::spawn(move || for _ in stderr.lines() {});
            return server;
        }
    }
}

/// One HTTP/1.1 exchange on a new connection: (status, headers, body).
fn exchange(addr: &str, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = response[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, head, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}

fn get(addr: &str, target: &str) -> (u16, String, Vec<u8>) {
    exchange(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

fn post(addr: &str, target: &str, content_type: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut request = format!(
        "POST {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    exchange(addr, &request)
}

/// A multipart form: (name, filename, bytes) per field.
fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "polyclipTestBoundary7MA4YWxk";
    let mut body = Vec::new();
    for (name, filename, bytes) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(file) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: image/png\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

fn error_of(response: (u16, String, Vec<u8>)) -> (u16, String) {
    let (status, _, body) = response;
    (status, json(&body)["error"].as_str().unwrap().to_owned())
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffff_u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose header declares `width × height` pixels and whose data is a few bytes: a decompression bomb's
/// header.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = b"IHDR".to_vec();
    chunk.extend_from_slice(&width.to_be_bytes());
    chunk.extend_from_slice(&height.to_be_bytes());
    chunk.extend_from_slice(&[8, 2, 0, 0, 0]);
    png.extend_from_slice(&13_u32.to_be_bytes());
    png.extend_from_slice(&chunk);
    png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    // An IDAT with a few bytes of zlib: the header is complete, the data is not.
    let idat = b"IDAT\x78\x9c\x03\x00\x00\x00\x00\x01";
    png.extend_from_slice(&8_u32.to_be_bytes());
    png.extend_from_slice(idat);
    png.extend_from_slice(&crc32(idat).to_be_bytes());
    png.extend_from_slice(&[0, 0, 0, 0]);
    png.extend_from_slice(b"IEND");
    png.extend_from_slice(&crc32(b"IEND").to_be_bytes());
    png
}

#[test]
fn a_caption_finds_its_picture_and_every_api_answers_with_real_numbers() {
    let dir = indexed_folder();
    let server = serve(dir.path(), &["--index", "index"]);
    let addr = &server.addr;
    assert!(
        server.log.contains(&format!(
            "polyclip: serving {} over 12 pictures at http://{addr}",
            model()
        )),
        "{}",
        server.log
    );

    // Text → picture: every caption ranks its own picture first (the fixture was chosen so, by this model).
    let captions = captions();
    for (id, (image, caption)) in captions.iter().enumerate() {
        let (status, _, body) = get(addr, &format!("/api/search?k=3&q={}", encode(caption)));
        assert_eq!(status, 200);
        let body = json(&body);
        assert_eq!(body["query"], caption.as_str());
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        assert_eq!(results[0]["id"], id, "{caption}");
        assert_eq!(results[0]["url"], format!("/image/{id}"));
        assert_eq!(results[0]["caption"], caption.as_str());
        assert_eq!(
            results[0]["name"],
            Path::new(image).file_name().unwrap().to_str().unwrap()
        );
        assert!(results[0]["score"].as_f64().unwrap() > results[1]["score"].as_f64().unwrap());
    }

    // Picture → picture, raw bytes and multipart: the picture itself first, at cosine 1.
    let picture = std::fs::read(dir.path().join(&captions[5].0)).unwrap();
    for response in [
        post(addr, "/api/search/image?k=4", "image/png", &picture),
        {
            let (content_type, body) =
                multipart(&[("image", Some("p.png"), &picture), ("k", None, b"4")]);
            post(addr, "/api/search/image", &content_type, &body)
        },
    ] {
        let (status, _, body) = response;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let results = json(&body)["results"].as_array().unwrap().clone();
        assert_eq!(results.len(), 4);
        assert_eq!(results[0]["id"], 5);
        assert!((results[0]["score"].as_f64().unwrap() - 1.0).abs() < 1e-5);
    }

    // Zero-shot labels: the probabilities `polyclip classify` prints for the same picture and labels.
    let labels = [
        "quadrados vermelhos",
        "círculos verdes",
        "estrelas amarelas",
    ];
    let picture_path = dir.path().join(&captions[11].0);
    let (ok, stdout, stderr) = polyclip_in(
        dir.path(),
        &[
            "classify",
            "--model",
            &model(),
            "--image",
            picture_path.to_str().unwrap(),
            "--labels",
            labels[0],
            labels[1],
            labels[2],
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    let expected: Vec<(String, f64)> = stdout
        .lines()
        .map(|line| {
            let (p, label) = line.split_once('\t').unwrap();
            (label.to_owned(), p.parse().unwrap())
        })
        .collect();
    let picture = std::fs::read(&picture_path).unwrap();
    let (content_type, body) = multipart(&[
        ("image", Some("p.png"), &picture),
        ("labels", None, labels.join(", ").as_bytes()),
    ]);
    let (status, _, body) = post(addr, "/api/classify", &content_type, &body);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let got: Vec<(String, f64)> = json(&body)["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["label"].as_str().unwrap().to_owned(),
                row["probability"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].0, "quadrados vermelhos");
    for ((label, p), (expected_label, expected_p)) in got.iter().zip(&expected) {
        assert_eq!(label, expected_label);
        assert!(
            (p - expected_p).abs() < 1e-4,
            "{label}: {p} against {expected_p}"
        );
    }

    // The picture by id: its bytes.
    let (status, head, body) = get(addr, "/image/3");
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: image/png"),
        "{head}"
    );
    assert_eq!(
        body,
        std::fs::read(dir.path().join(&captions[3].0)).unwrap()
    );

    let info = json(&get(addr, "/api/info").2);
    assert_eq!(info["index"]["pictures"], 12);
    assert_eq!(info["index"]["search"], "exact");
    assert_eq!(info["index"]["dim"], 64);
    assert_eq!(info["backend"], "flex");
    assert_eq!(info["placeholder"], captions[0].1.as_str());
    assert_eq!(json(&get(addr, "/api/health").2)["status"], "ok");

    // Queries sent together are all answered, each with its own picture.
    std::thread::scope(|scope| {
        for (id, (_, caption)) in captions.iter().enumerate().take(8) {
            scope.spawn(move || {
                let (status, _, body) =
                    get(addr, &format!("/api/search?k=1&q={}", encode(caption)));
                assert_eq!(status, 200);
                assert_eq!(json(&body)["results"][0]["id"], id);
            });
        }
    });
}

#[test]
fn bad_requests_get_one_line_errors_and_paths_from_the_request_are_never_read() {
    let dir = indexed_folder();
    let server = serve(
        dir.path(),
        &[
            "--index",
            "index",
            "--max-body-bytes",
            "100000",
            "--timeout-s",
            "2",
        ],
    );
    let addr = &server.addr;
    let picture = std::fs::read(dir.path().join(&captions()[0].0)).unwrap();

    assert_eq!(
        error_of(get(addr, "/api/search?q=%20%20")),
        (400, "the query is empty: give ?q=TEXT".into())
    );
    assert_eq!(
        error_of(get(addr, "/api/search")),
        (400, "the query is empty: give ?q=TEXT".into())
    );
    for k in ["0", "101", "abc", "-1"] {
        assert_eq!(
            error_of(get(addr, &format!("/api/search?q=x&k={k}"))),
            (
                400,
                format!("k must be a whole number from 1 to 100, not {k:?}")
            )
        );
    }
    assert_eq!(
        error_of(get(addr, &format!("/api/search?q={}", "a".repeat(1001)))),
        (400, "the query is longer than 1000 characters".into())
    );
    assert_eq!(
        error_of(post(
            addr,
            "/api/search/image",
            "image/png",
            b"not a picture at all"
        )),
        (
            400,
            "the picture is not an image polyclip reads (JPEG, PNG, WebP or GIF)".into()
        )
    );
    let (status, message) = error_of(post(
        addr,
        "/api/search/image",
        "image/png",
        &picture[..picture.len() / 2],
    ));
    assert_eq!(status, 400);
    assert!(message.starts_with("the picture is corrupt: "), "{message}");
    assert_eq!(
        error_of(post(addr, "/api/search/image", "image/png", &png_declaring(100_000, 100_000))),
        (
            400,
            "the picture declares 100000×100000 = 10000000000 pixels, over the limit of 40000000 (--max-image-pixels)"
                .into()
        )
    );
    assert_eq!(
        error_of(post(addr, "/api/search/image", "image/png", b"")),
        (
            400,
            "no picture: send the image bytes as the body or a multipart form with an `image` field".into()
        )
    );
    let (status, _, _) = post(addr, "/api/search/image", "image/png", &vec![0_u8; 200_000]);
    assert_eq!(status, 413);
    let (content_type, body) = multipart(&[
        ("image", Some("p.png"), &picture),
        ("labels", None, b"only one"),
    ]);
    assert_eq!(
        error_of(post(addr, "/api/classify", &content_type, &body)),
        (
            400,
            "give at least two labels (form field `labels`: one per line or comma-separated)"
                .into()
        )
    );
    let (content_type, body) = multipart(&[
        ("image", Some("p.png"), &picture),
        ("labels", None, b"a, b"),
        ("templates", None, b"uma foto de"),
    ]);
    assert_eq!(
        error_of(post(addr, "/api/classify", &content_type, &body)),
        (
            400,
            "template \"uma foto de\" has no {} for the label".into()
        )
    );
    assert_eq!(
        error_of(post(addr, "/api/caption?lang=pt", "image/png", &picture)),
        (
            404,
            "no captioner is loaded: start the server with --captioner DIR".into()
        )
    );

    // Pictures are served by number only.
    let passwd = std::fs::read("/etc/passwd").unwrap_or_default();
    for target in [
        "/image/../../etc/passwd",
        "/image/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/image/..%2f..%2fetc%2fpasswd",
        "/image/12",
        "/image/-1",
        "/image/3.0",
        "/image//etc/passwd",
    ] {
        let (status, _, body) = get(addr, target);
        assert_eq!(status, 404, "{target}");
        assert!(passwd.is_empty() || body != passwd, "{target}");
        assert!(json(&body)["error"].is_string(), "{target}");
    }
    assert_eq!(
        error_of(get(addr, "/api/nothing")),
        (404, "no such page or API: /api/nothing".into())
    );

    // A client that sends half its headers and stops loses the connection (--timeout-s 2) instead of holding it.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: te")
        .unwrap();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(!String::from_utf8_lossy(&rest).contains("200 OK"));

    // The server is still up after all of that.
    assert_eq!(get(addr, "/api/health").0, 200);
}

#[test]
fn captions_come_from_the_captioner_and_an_unknown_language_is_refused() {
    let dir = indexed_folder();
    let captioner = fixtures().join("models/vision_mbart").display().to_string();
    let tokenizer = fixtures()
        .join("tokenizers/mbart50/tokenizer.json")
        .display()
        .to_string();
    let photo = fixtures().join("photos/chelsea.png");
    let (ok, stdout, stderr) = polyclip_in(
        dir.path(),
        &[
            "caption",
            "--model",
            &captioner,
            "--tokenizer",
            &tokenizer,
            "--lang",
            "es",
            "--images",
            photo.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    let expected = stdout.trim_end().split_once('\t').unwrap().1.to_owned();
    assert!(!expected.is_empty());

    let server = serve(
        dir.path(),
        &[
            "--index",
            "index",
            "--captioner",
            &captioner,
            "--captioner-tokenizer",
            &tokenizer,
        ],
    );
    let addr = &server.addr;
    let picture = std::fs::read(&photo).unwrap();
    let (content_type, body) = multipart(&[
        ("image", Some("chelsea.png"), &picture),
        ("lang", None, b"es"),
    ]);
    let (status, _, body) = post(addr, "/api/caption", &content_type, &body);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["caption"], expected.as_str());
    assert_eq!(json(&body)["lang"], "es");
    let (status, message) = error_of(post(addr, "/api/caption?lang=xx", "image/png", &picture));
    assert_eq!(status, 400);
    assert!(message.starts_with("lang \"xx\": "), "{message}");
    assert_eq!(
        error_of(post(addr, "/api/caption", "image/png", &picture)),
        (
            400,
            "give the caption's language: lang=pt (or pt_XX)".into()
        )
    );
    assert_eq!(
        json(&get(addr, "/api/info").2)["captioner"],
        captioner.as_str()
    );
}

#[test]
fn an_index_is_searched_only_with_its_own_model() {
    let dir = indexed_folder();
    // An index made with a model named relatively finds it from another working directory.
    copy_dir(
        &fixtures().join("models/shapes_capivara"),
        &dir.path().join("models/mine"),
    );
    let (ok, _, stderr) = polyclip_in(
        dir.path(),
        &[
            "index",
            "--model",
            "models/mine",
            "--images",
            "pictures",
            "--out",
            "mine-index",
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
    let server = serve(&dir.path().join("elsewhere"), &["--index", "../mine-index"]);
    assert!(
        server
            .log
            .contains("polyclip: serving ../mine-index/../models/mine over 12 pictures"),
        "{}",
        server.log
    );
    drop(server);
    let other = fixtures().join("models/hf_clip").display().to_string();
    let (ok, _, stderr) = polyclip_in(
        dir.path(),
        &["serve", "--index", "index", "--model", &other],
        &[],
    );
    assert!(!ok);
    let line = stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "{stderr}");
    assert!(
        line.starts_with(&format!(
            "error: index was built with the model {} and cannot be searched with {other}: their configs differ",
            model()
        )),
        "{line}"
    );
    let (ok, _, stderr) = polyclip_in(
        dir.path(),
        &[
            "index",
            "--model",
            &other,
            "--images",
            "pictures.jsonl",
            "--out",
            "index",
        ],
        &[],
    );
    assert!(!ok);
    assert!(
        stderr.starts_with("error: index was built with the model"),
        "{stderr}"
    );
}

fn file_bytes(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

#[test]
fn an_interrupted_index_continues_and_a_changed_folder_embeds_only_its_new_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    copy_dir(&fixtures().join("serve/pictures"), &root.join("photos"));
    let all: Vec<PathBuf> = {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("photos"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    };
    // Start with 8 pictures; the rest come later.
    std::fs::create_dir(root.join("later")).unwrap();
    for file in &all[8..] {
        std::fs::rename(file, root.join("later").join(file.file_name().unwrap())).unwrap();
    }
    let index = |out: &str, env: &[(&str, &str)]| {
        polyclip_in(
            root,
            &[
                "index",
                "--model",
                &model(),
                "--images",
                "photos",
                "--out",
                out,
                "--batch-size",
                "3",
            ],
            env,
        )
    };
    let (ok, _, stderr) = index("whole", &[]);
    assert!(ok, "{stderr}");

    // Killed after its first chunk of 3: the second run embeds the other 5 and ends with the same files.
    let (ok, _, _) = index("resumed", &[("POLYCLIP_FAILPOINT", "index-chunk:1")]);
    assert!(!ok);
    let (ok, _, stderr) = index("resumed", &[]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("polyclip: resumed holds 3 of the 8 pictures; embedding 5"),
        "{stderr}"
    );
    for name in ["embeddings.f32", "items.jsonl"] {
        assert_eq!(
            file_bytes(&root.join("whole"), name),
            file_bytes(&root.join("resumed"), name),
            "{name}"
        );
    }
    let items = std::fs::read_to_string(root.join("whole/items.jsonl")).unwrap();
    assert_eq!(
        items.lines().next().unwrap(),
        r#"{"image":"../photos/000000.png"}"#
    );

    // The folder grows by 4 pictures and loses one: 4 are embedded, one row is dropped.
    for file in std::fs::read_dir(root.join("later")).unwrap() {
        let file = file.unwrap();
        std::fs::rename(file.path(), root.join("photos").join(file.file_name())).unwrap();
    }
    std::fs::remove_file(&all[0]).unwrap();
    let (ok, _, stderr) = index("whole", &[]);
    assert!(ok, "{stderr}");
    assert!(
        stderr
            .contains("polyclip: 1 pictures are gone from photos and were removed from the index"),
        "{stderr}"
    );
    assert!(
        stderr.contains("polyclip: whole holds 7 of the 11 pictures; embedding 4"),
        "{stderr}"
    );
    assert!(
        stderr.contains("polyclip: whole holds 11 pictures"),
        "{stderr}"
    );
    assert_eq!(
        file_bytes(&root.join("whole"), "embeddings.f32").len(),
        11 * 64 * 4
    );

    // A corrupt picture stops the run, naming it, unless --skip-bad.
    std::fs::write(root.join("photos/broken.png"), b"\x89PNG\r\n\x1a\nbroken").unwrap();
    let (ok, _, stderr) = index("whole", &[]);
    assert!(!ok);
    assert!(stderr.contains("broken.png: cannot be decoded"), "{stderr}");
    assert!(
        stderr
            .trim_end()
            .ends_with("(--skip-bad skips such pictures)"),
        "{stderr}"
    );
    let (ok, _, stderr) = polyclip_in(
        root,
        &[
            "index",
            "--model",
            &model(),
            "--images",
            "photos",
            "--out",
            "whole",
            "--skip-bad",
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("polyclip: skipped 1 pictures that could not be decoded"),
        "{stderr}"
    );
    assert!(
        stderr.contains("polyclip: whole holds 11 pictures"),
        "{stderr}"
    );
}

/// A folder is walked as torchvision's ImageFolder walks a class: sub-folders and links to folders are followed,
/// a link back up (a loop, where Python's os.walk would descend until the path is too long) is not entered, and a
/// picture reached twice (through a link to a folder that is also walked directly) is indexed once, under its
/// real path. A picture whose name is not UTF-8 is refused in one line (the index records names as JSON text; a
/// mangled name would never find its picture again).
#[cfg(unix)]
#[test]
fn a_folder_with_a_linked_folder_and_a_loop_indexes_each_picture_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let pictures = fixtures().join("serve/pictures");
    std::fs::create_dir_all(root.join("photos/a")).unwrap();
    std::fs::create_dir_all(root.join("elsewhere")).unwrap();
    std::fs::copy(pictures.join("000000.png"), root.join("photos/a/0.png")).unwrap();
    std::fs::copy(pictures.join("000001.png"), root.join("photos/1.png")).unwrap();
    std::fs::copy(pictures.join("000002.png"), root.join("elsewhere/2.png")).unwrap();
    std::os::unix::fs::symlink("../elsewhere", root.join("photos/linked")).unwrap();
    std::os::unix::fs::symlink("..", root.join("photos/a/up")).unwrap();
    // The same folder twice: photos/again/0.png is photos/a/0.png.
    std::os::unix::fs::symlink("a", root.join("photos/again")).unwrap();
    let model = model();
    let index = |out: &str| {
        polyclip_in(
            root,
            &[
                "index", "--model", &model, "--images", "photos", "--out", out,
            ],
            &[],
        )
    };
    let (ok, _, stderr) = index("index");
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("polyclip: index holds 3 pictures"),
        "{stderr}"
    );
    let items = std::fs::read_to_string(root.join("index/items.jsonl")).unwrap();
    assert_eq!(
        items.lines().collect::<Vec<_>>(),
        [
            r#"{"image":"../photos/1.png"}"#,
            r#"{"image":"../photos/a/0.png"}"#,
            r#"{"image":"../elsewhere/2.png"}"#,
        ]
    );

    // (Linux only: macOS file systems refuse names that are not UTF-8.)
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let odd = std::ffi::OsStr::from_bytes(b"caf\xe9.png");
        std::fs::copy(pictures.join("000003.png"), root.join("photos").join(odd)).unwrap();
        let (ok, _, stderr) = index("index");
        assert!(!ok);
        assert_eq!(
            stderr.trim_end().lines().last().unwrap(),
            "error: photos/caf\u{fffd}.png: the index records where a picture is as UTF-8 text, and this name is not \
         UTF-8 (rename the file or its folder)"
        );
    }
}

#[test]
fn serve_without_arguments_serves_the_main_job_or_says_which_command_makes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = polyclip_in(dir.path(), &["serve"], &[]);
    assert!(!ok);
    assert_eq!(
        stderr.trim_end(),
        "error: serve: runs/capivara-seed000/finetune does not exist; make it with `cargo run --release -p recipes \
         --bin capivara` (the main job), or give --index INDEX"
    );
    // A main job's run folder: the fine-tuned model and the held-out Portuguese pictures.
    let run = dir.path().join("runs/capivara-seed000");
    copy_dir(
        &fixtures().join("models/shapes_capivara"),
        &run.join("finetune"),
    );
    copy_dir(
        &fixtures().join("serve/pictures"),
        &run.join("data/pictures"),
    );
    std::fs::copy(
        fixtures().join("serve/pictures.jsonl"),
        run.join("data/test.pt.jsonl"),
    )
    .unwrap();
    std::fs::write(
        run.join("finetune/metrics.jsonl"),
        "{\"step\":0,\"loss\":2.5}\n{\"step\":1,\"loss\":2.0}\n",
    )
    .unwrap();
    let server = serve(dir.path(), &[]);
    assert!(
        server.log.contains(&format!(
            "polyclip: serving runs/capivara-seed000/finetune over 12 pictures at http://{}",
            server.addr
        )),
        "{}",
        server.log
    );
    assert!(run.join("index/index.json").is_file());
    let (status, _, body) = get(
        &server.addr,
        &format!("/api/search?k=1&q={}", encode(&captions()[4].1)),
    );
    assert_eq!(status, 200);
    assert_eq!(json(&body)["results"][0]["id"], 4);
    // The runs view is on, over runs/.
    let runs = json(&get(&server.addr, "/api/runs").2);
    assert_eq!(runs["runs"][0]["name"], "capivara-seed000");
    assert_eq!(runs["runs"][0]["stages"], serde_json::json!(["finetune"]));
    assert_eq!(runs["runs"][0]["finished"], false);
    let detail = json(&get(&server.addr, "/api/runs/capivara-seed000").2);
    assert_eq!(detail["stages"][0]["metrics"][1]["loss"], 2.0);
    assert_eq!(
        error_of(get(&server.addr, "/api/runs/..%2f..%2fetc")),
        (404, "no run named \"../../etc\" in runs".into())
    );
    let (status, head, body) = get(&server.addr, "/runs/capivara-seed000");
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html")
    );
    assert!(String::from_utf8_lossy(&body).contains("/assets/runs.js"));
}

/// Debian's Chromium (what .ci/run installs), or POLYCLIP_CHROMIUM.
fn chromium() -> PathBuf {
    let path = std::env::var_os("POLYCLIP_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.is_file(),
        "{} is missing: the browser test needs Chromium (`apt-get install chromium`, as .ci/run does)",
        path.display()
    );
    path
}

fn headless(args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1200,900",
            // Run the page's scripts and fetches to completion before dumping or shooting.
            "--virtual-time-budget=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .expect("run chromium");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_page_renders_the_pictures_a_shared_search_link_finds() {
    let dir = indexed_folder();
    // A run still writing: one stage's metrics, no report yet.
    let stage = dir.path().join("runs/my-run/finetune");
    std::fs::create_dir_all(&stage).unwrap();
    let metrics: String = (0..20)
        .map(|step| {
            format!(
                "{{\"step\":{step},\"loss\":{},\"lr\":0.001,\"samples_per_s\":500.0}}\n",
                5.0 - f64::from(step) * 0.1
            )
        })
        .collect();
    std::fs::write(stage.join("metrics.jsonl"), metrics).unwrap();
    let server = serve(dir.path(), &["--index", "index", "--runs", "runs"]);
    let caption = &captions()[7].1;
    let url = format!("http://{}/?q={}", server.addr, encode(caption));
    let api: Vec<u64> = json(
        &get(
            &server.addr,
            &format!("/api/search?k=24&q={}", encode(caption)),
        )
        .2,
    )["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(api.len(), 12);
    assert_eq!(api[0], 7);

    let dom = headless(&["--dump-dom", &url]);
    let grid = &dom[dom.find("id=\"results\"").expect("the result grid")..];
    assert!(grid.contains("data-state=\"done\""), "{grid}");
    let shown: Vec<u64> = grid
        .split("data-id=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
        .collect();
    assert_eq!(shown, api, "the grid shows the API's results, in order");
    assert!(grid.contains(&format!("src=\"/image/{}\"", api[0])));
    assert!(dom.contains("12 pictures for “"), "{dom}");

    // The runs view draws one chart per metric of the stage and says it refreshes.
    let runs = headless(&["--dump-dom", &format!("http://{}/runs/my-run", server.addr)]);
    assert!(runs.contains("stage finetune · 20 records"), "{runs}");
    assert_eq!(
        runs.matches("<svg").count(),
        3,
        "loss, lr and samples/s: {runs}"
    );
    assert!(runs.contains("aria-label=\"loss\""), "{runs}");
    assert!(runs.contains("refreshing every 5 s"), "{runs}");
    let list = headless(&["--dump-dom", &format!("http://{}/runs", server.addr)]);
    assert!(list.contains("href=\"/runs/my-run\""), "{list}");

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-page.png");
    let _ = std::fs::remove_file(&shot);
    headless(&[&format!("--screenshot={}", shot.display()), &url]);
    let png = std::fs::read(&shot).expect("the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    eprintln!("screenshot: {}", shot.display());
}

#[test]
fn pictures_in_webdataset_shards_are_indexed_and_served_from_their_shard() {
    let dir = tempfile::tempdir().unwrap();
    let captions = captions();
    let mut writer =
        polyclip_data::sources::webdataset::ShardWriter::new(&dir.path().join("shards"), 5)
            .unwrap();
    let mut pictures = Vec::new();
    for (i, (image, caption)) in captions.iter().enumerate() {
        let bytes = std::fs::read(fixtures().join("serve").join(image)).unwrap();
        writer
            .write(
                &format!("{i:06}"),
                &[("png", &bytes), ("txt", caption.as_bytes())],
            )
            .unwrap();
        pictures.push(bytes);
    }
    let shards = writer.finish().unwrap();
    assert_eq!(shards.len(), 3);
    let (ok, _, stderr) = polyclip_in(
        dir.path(),
        &[
            "index",
            "--model",
            &model(),
            "--images",
            "shards/{00000..00002}.tar",
            "--out",
            "index",
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    let items = std::fs::read_to_string(dir.path().join("index/items.jsonl")).unwrap();
    let first: Value = serde_json::from_str(items.lines().next().unwrap()).unwrap();
    assert_eq!(first["shard"], "../shards/00000.tar");
    assert_eq!(first["member"], "000000.png");
    assert_eq!(first["caption"], captions[0].1.as_str());

    let server = serve(dir.path(), &["--index", "index"]);
    let (status, _, body) = get(
        &server.addr,
        &format!("/api/search?k=1&q={}", encode(&captions[9].1)),
    );
    assert_eq!(status, 200);
    let hit = &json(&body)["results"][0];
    assert_eq!(hit["id"], 9);
    assert_eq!(hit["name"], "00001.tar#000009.png");
    let (status, _, body) = get(&server.addr, "/image/9");
    assert_eq!(status, 200);
    assert_eq!(body, pictures[9]);
}
