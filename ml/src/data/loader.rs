//! Loading user data: `.jsonl` files of `{"text": …}` objects, or plain text with one
//! document per non-empty line.

use std::path::Path;

use serde::Deserialize;

use super::DataError;

#[derive(Deserialize)]
struct Line {
    text: String,
}

/// The documents of `path`: for a `.jsonl` file, the `text` field of each non-empty line
/// (other fields ignored); for any other file, each non-empty line.
pub fn load_texts(path: &Path) -> Result<Vec<String>, DataError> {
    let raw = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8_lossy(&raw);
    let lines = text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l));
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl"))
    {
        lines
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str::<Line>(l)
                    .map(|x| x.text)
                    .map_err(|source| DataError::Json {
                        path: path.to_path_buf(),
                        line: i + 1,
                        source,
                    })
            })
            .collect()
    } else {
        Ok(lines
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_jsonl_and_text() {
        let d = tempfile::tempdir().unwrap();
        let j = d.path().join("a.jsonl");
        std::fs::write(
            &j,
            "{\"text\":\"1+1=2\",\"task\":\"arith\"}\n\n{\"text\":\"x\"}\r\n",
        )
        .unwrap();
        assert_eq!(load_texts(&j).unwrap(), ["1+1=2", "x"]);
        let t = d.path().join("b.txt");
        std::fs::write(&t, "hello\n\n world \r\n").unwrap();
        assert_eq!(load_texts(&t).unwrap(), ["hello", " world "]);
        std::fs::write(&j, "{\"text\":\"ok\"}\n{\"txt\":1}\n").unwrap();
        match load_texts(&j) {
            Err(DataError::Json { line, .. }) => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            load_texts(&d.path().join("none.txt")),
            Err(DataError::Io { .. })
        ));
    }
}
