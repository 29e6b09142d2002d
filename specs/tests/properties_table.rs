//! `specs/PROPERTIES.md` and the `Property` enum name the same properties, and the planted
//! bugs it lists name the property each one's mutant reports.

use quiesce_core::Property;
use std::collections::BTreeSet;

fn document() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/PROPERTIES.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The rows of the table whose header row starts with `header`: each row's cells, trimmed.
fn table(doc: &str, header: &str) -> Vec<Vec<String>> {
    let mut lines = doc.lines().skip_while(|l| !l.starts_with(header));
    assert!(lines.next().is_some(), "no table headed {header:?}");
    lines
        .skip(1) // the | --- | row
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// `name` out of a cell written `` `name` ``.
fn code(cell: &str) -> &str {
    cell.strip_prefix('`')
        .and_then(|c| c.strip_suffix('`'))
        .unwrap_or_else(|| panic!("{cell:?} is not one `name`"))
}

#[test]
fn every_property_is_in_the_table_and_every_row_is_a_property() {
    let doc = document();
    let rows = table(&doc, "| name | meaning |");
    let listed: Vec<&str> = rows.iter().map(|r| code(&r[0])).collect();
    let distinct: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(distinct.len(), listed.len(), "a row appears twice");
    let named: BTreeSet<&str> = Property::ALL.iter().map(|p| p.name()).collect();
    let missing: Vec<_> = named.difference(&distinct).collect();
    let unknown: Vec<_> = distinct.difference(&named).collect();
    assert!(missing.is_empty(), "not in PROPERTIES.md: {missing:?}");
    assert!(unknown.is_empty(), "not a Property: {unknown:?}");
    for row in &rows {
        assert_eq!(
            row.len(),
            5,
            "{row:?}: name, meaning, LTL, Rust check, oracle"
        );
        assert!(
            row.iter().all(|c| !c.is_empty()),
            "{row:?} has an empty cell"
        );
    }
}

#[test]
fn every_revert_and_mutant_is_caught_by_a_property() {
    let doc = document();
    let reverts = table(&doc, "| revert | the bug | caught by | core mutant |");
    assert!(!reverts.is_empty());
    for row in reverts {
        assert!(
            Property::from_name(code(&row[2])).is_some(),
            "{row:?}: not a Property"
        );
    }
    let workers = table(&doc, "| worker mutant | the bug | caught by |");
    assert!(!workers.is_empty());
    for row in workers {
        assert!(
            Property::from_name(code(&row[2])).is_some(),
            "{row:?}: not a Property"
        );
    }
}

/// Each mutant of the core is listed once, under the property its `property()` names.
#[cfg(feature = "mutants")]
#[test]
fn every_mutant_is_listed_with_its_own_property() {
    use quiesce_core::controller::mutants::Mutant;
    use quiesce_core::worker::mutants::WorkerMutant;
    let doc = document();
    let listed = |header: &str, column: usize| -> Vec<(String, String)> {
        table(&doc, header)
            .into_iter()
            .filter(|row| row[column] != "—")
            .map(|row| (code(&row[column]).to_string(), code(&row[2]).to_string()))
            .collect()
    };
    let mut controller = listed("| revert | the bug | caught by | core mutant |", 3);
    controller.sort();
    let mut expected: Vec<(String, String)> = Mutant::ALL
        .iter()
        .map(|m| (m.name().to_string(), m.property().name().to_string()))
        .collect();
    expected.sort();
    assert_eq!(controller, expected);
    let mut worker = listed("| worker mutant | the bug | caught by |", 0);
    worker.sort();
    let mut expected: Vec<(String, String)> = WorkerMutant::ALL
        .iter()
        .map(|m| (m.name().to_string(), m.property().name().to_string()))
        .collect();
    expected.sort();
    assert_eq!(worker, expected);
}

/// The reverts PROPERTIES.md lists are the ones `specs/check` runs, each caught by the same
/// property, and each is a switch of the model.
#[test]
fn every_listed_revert_is_checked_and_in_the_model() {
    let read = |file: &str| {
        let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let doc = document();
    let mut listed: Vec<(String, String)> =
        table(&doc, "| revert | the bug | caught by | core mutant |")
            .into_iter()
            .filter(|row| row[0].starts_with('`'))
            .map(|row| (code(&row[0]).to_string(), code(&row[2]).to_string()))
            .collect();
    listed.sort();
    // specs/check lists each as "REVERT_NAME|property|configuration".
    let script = read("check");
    let mut checked: Vec<(String, String)> = script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("\"REVERT_"))
        .map(|l| {
            let mut cells = l.trim_end_matches('"').split('|');
            let name = format!("REVERT_{}", cells.next().unwrap_or_default());
            (name, cells.next().unwrap_or_default().to_string())
        })
        .collect();
    checked.sort();
    assert_eq!(
        listed, checked,
        "PROPERTIES.md and specs/check list other reverts"
    );
    let model = read("model.pml");
    for (name, _) in &listed {
        assert!(
            model.contains(&format!("#ifdef {name}")) || model.contains(&format!("#ifndef {name}")),
            "{name} is not a switch of model.pml"
        );
    }
}
