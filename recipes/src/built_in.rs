//! The recipes shipped with polyclip, compiled into the binaries (recipes/*.toml is what they contain).

/// `(binary name, path in the repository, TOML)` of every contrastive/distillation recipe.
pub const RECIPES: [(&str, &str, &str); 4] = [
    (
        "capivara",
        "recipes/capivara.toml",
        include_str!("../capivara.toml"),
    ),
    (
        "capivara-opt",
        "recipes/capivara-opt.toml",
        include_str!("../capivara-opt.toml"),
    ),
    (
        "clip-italian",
        "recipes/clip-italian.toml",
        include_str!("../clip-italian.toml"),
    ),
    ("themo", "recipes/themo.toml", include_str!("../themo.toml")),
];

/// `(binary name, path in the repository, TOML)` of the captioner recipe (`[recipe] kind = "captioner"`).
pub const CAPTIONER: (&str, &str, &str) = (
    "mbart-captioner",
    "recipes/mbart-captioner.toml",
    include_str!("../mbart-captioner.toml"),
);

/// The built-in recipe called `name`: its path and TOML.
pub fn recipe(name: &str) -> Option<(&'static str, &'static str)> {
    RECIPES
        .iter()
        .find(|(recipe, _, _)| *recipe == name)
        .map(|&(_, path, text)| (path, text))
}
