"""Copies the zero-shot ImageNet class names and prompt templates polyclip ships from ../shared/data/classnames
into datasets/classnames/<lang>.json (run from the repository root: python3 datasets/classnames/extract.py).

Every output holds `class_indices` (positions in ImageNet-1k's sorted-WordNet-id order; Babel-ImageNet covers
only part of the classes in most languages), `classnames`, `templates` (with a `{}` slot) and `source`."""
import json
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "shared" / "data" / "classnames"
OUT = Path(__file__).resolve().parent

babel = json.loads((SRC / "babel_imagenet.json").read_text())
prompts = json.loads((SRC / "imagenet_prompts.json").read_text())


def babel_entry(key):
    indices, names = babel[key]
    return list(indices), list(names)


def write(lang, indices, names, templates, source):
    templates = [t.replace("{c}", "{}") for t in templates]  # clip_benchmark writes the slot as {c}
    assert len(indices) == len(names) and templates and all("{}" in t for t in templates), lang
    (OUT / f"{lang}.json").write_text(json.dumps(
        {"language": lang, "source": source, "class_indices": indices, "classnames": names,
         "templates": templates}, ensure_ascii=False, indent=0) + "\n")


en_names = json.loads((SRC / "en_classnames.json").read_text())
en_templates = json.loads((SRC / "en_zeroshot_classification_templates.json").read_text())
en_names = en_names.get("imagenet1k", en_names) if isinstance(en_names, dict) else en_names
en_templates = en_templates.get("imagenet1k", en_templates) if isinstance(en_templates, dict) else en_templates
write("en", list(range(len(en_names))), en_names, en_templates, "clip_benchmark (MIT)")

it_names = json.loads((SRC / "it_classnames.json").read_text())
it_templates = json.loads((SRC / "it_zeroshot_classification_templates.json").read_text())
it_names = it_names.get("imagenet1k", it_names) if isinstance(it_names, dict) else it_names
it_templates = it_templates.get("imagenet1k", it_templates) if isinstance(it_templates, dict) else it_templates
write("it", list(range(len(it_names))), it_names, it_templates, "clip_benchmark, from clip-italian (MIT)")

indices, names = babel_entry("MANUAL-TRANSLATED-PT")
write("pt", indices, names, prompts["MANUAL-TRANSLATED-PT"] if "MANUAL-TRANSLATED-PT" in prompts else prompts["PT"],
      "CAPIVARA (hiaac-nlp/CAPIVARA, MIT): hand-translated Portuguese names and prompts")
for lang in ["ES", "HI", "XH"]:
    indices, names = babel_entry(lang)
    write(lang.lower(), indices, names, prompts.get(lang, en_templates),
          "Babel-ImageNet names via CAPIVARA's babel_imagenet.json (BabelNet; see ATTRIBUTION.md); "
          + ("prompts from CAPIVARA's imagenet_prompts.json" if lang in prompts else "English prompts (none translated)"))
