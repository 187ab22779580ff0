//! The documentation says what the code does: every variable the code reads is in
//! `docs/configuration.md` and every variable there is read; `docs/quickstart.md` carries
//! `scripts/quickstart` (which the test command runs) word for word; every guide the README
//! links to exists.

use std::collections::BTreeSet;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The Rust files of a directory, recursively, without their test modules.
fn sources(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "tests") {
                sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push(text.split("#[cfg(test)]").next().unwrap_or_default().to_owned());
        }
    }
}

/// Names the code reads: the string given to one of the readers of the environment.
fn read_by_the_code() -> BTreeSet<String> {
    let mut files = Vec::new();
    for dir in ["shared/src", "src", "functions"] {
        sources(&Path::new(ROOT).join(dir), &mut files);
    }
    let mut names = BTreeSet::new();
    for text in files {
        for reader in ["get(\"", "required(\"", "seconds(\"", "given(\"", "given_url(\"", "source(\"", "env::var(\""] {
            for (i, _) in text.match_indices(reader) {
                let rest = &text[i + reader.len()..];
                let name: String =
                    rest.chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
                if rest[name.len()..].starts_with('"') && name.len() > 2 {
                    names.insert(name);
                }
            }
        }
    }
    names
}

/// Names in the first column of the tables of `docs/configuration.md`.
fn documented() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in read("docs/configuration.md").lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or_default();
        for part in first.split('`').skip(1).step_by(2) {
            names.insert(part.to_owned());
        }
    }
    names
}

#[test]
fn the_configuration_guide_lists_exactly_what_the_code_reads() {
    let read = read_by_the_code();
    let documented = documented();
    assert!(
        read.contains("META_APP_ID") && read.contains("MEDIA_BUCKET"),
        "the scan finds the loader's reads: {read:?}"
    );
    let undocumented: Vec<_> = read.difference(&documented).collect();
    let unread: Vec<_> = documented.difference(&read).collect();
    assert!(undocumented.is_empty(), "read but not in docs/configuration.md: {undocumented:?}");
    assert!(unread.is_empty(), "in docs/configuration.md but never read: {unread:?}");
}

#[test]
fn the_quick_start_guide_carries_the_script_ci_runs() {
    let script = read("scripts/quickstart");
    let guide = read("docs/quickstart.md");
    assert!(guide.contains(script.trim_end()), "docs/quickstart.md must include scripts/quickstart word for word");
    assert!(read("scripts/test").contains("./scripts/quickstart"), "the test command runs the quick start");
}

#[test]
fn the_readme_is_short_and_its_guides_exist() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(lines <= 300, "the README has {lines} lines: keep it to the first fifteen minutes");
    let mut linked = 0;
    for (i, _) in readme.match_indices("](docs/") {
        let target: String = readme[i + 2..].chars().take_while(|c| *c != ')' && *c != '#').collect();
        assert!(Path::new(ROOT).join(&target).exists(), "README links to {target}, which does not exist");
        linked += 1;
    }
    assert!(linked >= 8, "the README links to its guides ({linked} links)");
}

#[test]
fn the_deploy_guide_names_every_template_parameter() {
    let template: serde_yaml::Value = serde_yaml::from_str(&read("template.yaml")).unwrap();
    let guide = read("docs/deploy.md");
    let parameters = template["Parameters"].as_mapping().expect("the template has parameters");
    assert!(parameters.len() > 10);
    for name in parameters.keys().filter_map(|k| k.as_str()) {
        assert!(guide.contains(&format!("| `{name}` |")), "docs/deploy.md does not name the parameter {name}");
    }
}
