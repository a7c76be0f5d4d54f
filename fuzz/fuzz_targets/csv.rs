//! Fuzz target: CSV bytes under options chosen by the first input byte must load or
//! return an error, never panic; a loaded data set must hold its shape invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapegrad_data::{CsvOptions, Header, Separator, TargetColumn, Task, parse_csv_bytes};

fuzz_target!(|input: &[u8]| {
    let Some((&choice, bytes)) = input.split_first() else {
        return;
    };
    let header = [Header::Auto, Header::Present, Header::Absent][usize::from(choice % 3)];
    let separator =
        [Separator::Auto, Separator::Comma, Separator::Semicolon, Separator::Tab, Separator::Whitespace]
            [usize::from((choice / 3) % 5)];
    let task = if choice & 0x80 == 0 { Task::Classification } else { Task::Regression };
    let target = match (choice / 15) % 4 {
        0 => TargetColumn::Index(-1),
        1 => TargetColumn::Index(0),
        2 => TargetColumn::Index(1),
        _ => TargetColumn::Name("y".to_string()),
    };
    let options = CsvOptions { header, separator, target, task };
    if let Ok(data) = parse_csv_bytes(bytes, "fuzz", &options) {
        assert_eq!(data.features().len(), data.n_samples() * data.n_features());
        assert_eq!(data.targets().len(), data.n_samples());
        assert!(data.features().iter().all(|x| x.is_finite()));
    }
});
