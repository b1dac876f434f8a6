//! Declarative, two-way mapping between a checkpoint's key names and polyclip's module paths.
//!
//! A key maps by (1) a whole-key rule, else (2) the first matching prefix rule, with (3) every later path
//! segment renamed by the segment rules. Because every rule is a pair, the same table maps back for export.
//! Keys the model has no use for (buffers, poolers it does not pool with) are listed as ignored, by suffix.
//! Older layouts of the same checkpoint (a prefix another library version wrote) are read through load-only
//! prefix renames, so export keeps writing the one layout the table names.

/// One family's key table.
#[derive(Debug, Clone, Default)]
pub struct KeyMap {
    /// `(checkpoint key, model path)` for whole keys.
    pub keys: Vec<(String, String)>,
    /// `(checkpoint prefix, model prefix)`, tried in order.
    pub prefixes: Vec<(String, String)>,
    /// `(checkpoint segment, model segment)`, applied to every segment after the prefix.
    pub segments: Vec<(String, String)>,
    /// Checkpoint keys ending so are skipped on load (and never written on export).
    pub ignored_suffixes: Vec<String>,
    /// Checkpoint keys starting so are skipped on load.
    pub ignored_prefixes: Vec<String>,
    /// `(older checkpoint prefix, the prefix the table names)`: renamed before the rules, on load only.
    pub older_prefixes: Vec<(String, String)>,
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

impl KeyMap {
    /// A table from literal pairs.
    pub fn new(
        keys: &[(&str, &str)],
        prefixes: &[(&str, &str)],
        segments: &[(&str, &str)],
        ignored: &[&str],
    ) -> Self {
        Self {
            keys: pairs(keys),
            prefixes: pairs(prefixes),
            segments: pairs(segments),
            ignored_suffixes: ignored.iter().map(|s| s.to_string()).collect(),
            ignored_prefixes: Vec::new(),
            older_prefixes: Vec::new(),
        }
    }

    /// Also reads checkpoints that another version of their library wrote under other prefixes: `(older, current)`
    /// pairs, tried in order before the rules, on load only (export writes the current layout).
    pub fn reading_older_prefixes(mut self, older: &[(&str, &str)]) -> Self {
        self.older_prefixes.extend(pairs(older));
        self
    }

    /// Also skips checkpoint keys under these prefixes.
    pub fn ignoring_prefixes(mut self, prefixes: &[&str]) -> Self {
        self.ignored_prefixes
            .extend(prefixes.iter().map(|p| p.to_string()));
        self
    }

    /// Whether a checkpoint key is one the model does not use.
    pub fn is_ignored(&self, key: &str) -> bool {
        self.ignored_suffixes
            .iter()
            .any(|suffix| key.ends_with(suffix.as_str()))
            || self
                .ignored_prefixes
                .iter()
                .any(|prefix| key.starts_with(prefix.as_str()))
    }

    /// Checkpoint key → model path (`None` when no rule covers it).
    pub fn to_model(&self, key: &str) -> Option<String> {
        match self
            .older_prefixes
            .iter()
            .find(|(older, _)| key.starts_with(older.as_str()))
        {
            Some((older, current)) => self.translate(
                &format!("{current}{}", &key[older.len()..]),
                Direction::ToModel,
            ),
            None => self.translate(key, Direction::ToModel),
        }
    }

    /// Model path → checkpoint key.
    pub fn to_checkpoint(&self, path: &str) -> Option<String> {
        self.translate(path, Direction::ToCheckpoint)
    }

    fn translate(&self, key: &str, direction: Direction) -> Option<String> {
        let pick = |pair: &(String, String)| -> (String, String) {
            match direction {
                Direction::ToModel => pair.clone(),
                Direction::ToCheckpoint => (pair.1.clone(), pair.0.clone()),
            }
        };
        if let Some((_, to)) = self.keys.iter().map(pick).find(|(from, _)| from == key) {
            return Some(to);
        }
        let (from, to) = self
            .prefixes
            .iter()
            .map(pick)
            .find(|(from, _)| key.starts_with(from.as_str()))?;
        let rest: Vec<String> = key[from.len()..]
            .split('.')
            .map(|segment| {
                self.segments
                    .iter()
                    .map(pick)
                    .find(|(a, _)| a == segment)
                    .map_or_else(|| segment.to_string(), |(_, b)| b)
            })
            .collect();
        Some(format!("{to}{}", rest.join(".")))
    }
}

#[derive(Clone, Copy)]
enum Direction {
    ToModel,
    ToCheckpoint,
}

/// Segment renames shared by every BERT-family encoder in the HF layout.
pub const BERT_SEGMENTS: &[(&str, &str)] =
    &[("LayerNorm", "layer_norm"), ("self", "self_attention")];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_both_ways() {
        let map = KeyMap::new(
            &[("visual.proj", "vision.visual_projection.weight")],
            &[
                ("text_model.", "text.transformer."),
                ("visual.transformer.", "vision.vision_model.encoder."),
            ],
            &[("LayerNorm", "layer_norm"), ("resblocks", "layers")],
            &["position_ids"],
        );
        let cases = [
            ("visual.proj", "vision.visual_projection.weight"),
            (
                "text_model.embeddings.LayerNorm.weight",
                "text.transformer.embeddings.layer_norm.weight",
            ),
            (
                "visual.transformer.resblocks.3.mlp.c_fc.bias",
                "vision.vision_model.encoder.layers.3.mlp.c_fc.bias",
            ),
        ];
        for (checkpoint, model) in cases {
            assert_eq!(map.to_model(checkpoint).as_deref(), Some(model));
            assert_eq!(map.to_checkpoint(model).as_deref(), Some(checkpoint));
        }
        assert_eq!(map.to_model("unknown.weight"), None);
        assert!(map.is_ignored("text_model.embeddings.position_ids"));
    }

    #[test]
    fn an_older_prefix_is_read_and_never_written() {
        let map = KeyMap::new(&[], &[("encoder.", "encoder.")], &[], &[])
            .reading_older_prefixes(&[("encoder.vision_model.", "encoder.")]);
        for key in [
            "encoder.vision_model.embeddings.class_embedding",
            "encoder.embeddings.class_embedding",
        ] {
            assert_eq!(
                map.to_model(key).as_deref(),
                Some("encoder.embeddings.class_embedding")
            );
        }
        assert_eq!(
            map.to_checkpoint("encoder.embeddings.class_embedding")
                .as_deref(),
            Some("encoder.embeddings.class_embedding")
        );
    }
}
