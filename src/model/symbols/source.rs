//! Where the source files are at hand (the machine a build was made on, a
//! container built with its sources), the item a line is written in: the
//! last resort for naming a closure or an async body that the compiler
//! inlined out of the symbol table's sight.

/// The path of items around `line` (1-based) of `file`, outermost first:
/// `["cache", "CachedSession", "get"]` for a line in `fn get` of
/// `impl CachedSession` in `mod cache`. `None` where the file cannot be
/// read or the line is in no function.
pub(crate) fn enclosing_items(file: &str, line: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(file).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let target = usize::try_from(line).ok()?.checked_sub(1)?;
    let mut indent = indentation(lines.get(target)?);
    let mut items = Vec::new();
    let mut function_found = false;
    for text in lines[..target].iter().rev() {
        let here = indentation(text);
        if text.trim().is_empty() || here >= indent {
            continue;
        }
        let Some((kind, name)) = item(text.trim()) else {
            continue;
        };
        if kind == "fn" && function_found {
            // A function inside a function: the inner one names it.
            indent = here;
            continue;
        }
        function_found |= kind == "fn";
        items.push(name);
        indent = here;
    }
    if !function_found {
        return None;
    }
    items.reverse();
    Some(items)
}

/// `<T: A<B>> Foo` → `Foo`: past an `impl`'s own generic parameters.
fn skip_generic_parameters(text: &str) -> &str {
    if !text.starts_with('<') {
        return text;
    }
    let mut depth = 0;
    for (index, c) in text.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => {
                depth -= 1;
                if depth == 0 {
                    return text[index + 1..].trim_start();
                }
            }
            _ => {}
        }
    }
    text
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// `pub async fn get(` → (`fn`, `get`); `mod cache {` → (`mod`, `cache`);
/// `impl<T> Store<T> for X {` → (`impl`, `X`); `impl Store {` → (`impl`,
/// `Store`).
fn item(line: &str) -> Option<(&'static str, String)> {
    let mut words = line
        .trim_start_matches("pub(crate) ")
        .trim_start_matches("pub(super) ")
        .trim_start_matches("pub ")
        .split(|c: char| c.is_whitespace() || c == '(' || c == '{');
    let mut word = words.next()?;
    while matches!(word, "async" | "const" | "unsafe" | "extern" | "\"C\"") {
        word = words.next()?;
    }
    let identifier = |text: &str| -> Option<String> {
        let name: String = text
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        (!name.is_empty()).then_some(name)
    };
    match word {
        "fn" => Some(("fn", identifier(words.next()?)?)),
        "mod" => Some(("mod", identifier(words.next()?)?)),
        word if word == "impl" || word.starts_with("impl<") => {
            let rest = line.split_once("impl")?.1;
            let rest = skip_generic_parameters(rest.trim_start());
            let header = rest.split('{').next()?;
            let implemented = header.rsplit(" for ").next()?.trim();
            let path = implemented.split('<').next()?;
            Some(("impl", identifier(path.rsplit("::").next()?)?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "mod cache {
    pub struct Session;

    impl Session {
        pub async fn get(&self) -> u8 {
            let fetch = async {
                1
            };
            fetch.await
        }
    }
}

async fn json() {
    let values: Vec<u8> = (0..3).map(|x| {
        x + 1
    }).collect();
}
";

    #[test]
    fn finds_the_function_a_line_is_in() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lib.rs");
        std::fs::write(&file, SOURCE).unwrap();
        let file = file.to_str().unwrap();
        assert_eq!(
            enclosing_items(file, 7),
            Some(vec![
                "cache".to_owned(),
                "Session".to_owned(),
                "get".to_owned()
            ])
        );
        assert_eq!(enclosing_items(file, 16), Some(vec!["json".to_owned()]));
        assert_eq!(enclosing_items(file, 2), None, "not in a function");
        assert_eq!(enclosing_items("/no/such/file.rs", 3), None);
    }

    #[test]
    fn reads_items_from_their_first_line() {
        assert_eq!(
            item("pub async fn get(&self) {"),
            Some(("fn", "get".to_owned()))
        );
        assert_eq!(item("mod cache {"), Some(("mod", "cache".to_owned())));
        assert_eq!(
            item("impl<T: Chain> Chain for B0<T> {"),
            Some(("impl", "B0".to_owned()))
        );
        assert_eq!(item("impl Session {"), Some(("impl", "Session".to_owned())));
        assert_eq!(item("let x = 1;"), None);
    }
}
