//! Writer detection against the table the TypeScript path is tested with too (test/fixtures/writer-detection.json):
//! the native monitor and the TypeScript panic probe read the same answers the same way.

use monitor_core::topology::{
    needs_own_id, rows_writer, verdict, writer_check, TextRows, TopologyShape, Verdict, WriterCheck, WriterIdMeaning,
};
use serde_json::Value;

fn fixtures() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test/fixtures/writer-detection.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture file")).expect("fixture JSON")
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn rows(v: &Value) -> TextRows {
    v.as_array().expect("rows").iter().map(|r| r.as_array().expect("row").iter().map(text).collect()).collect()
}

fn meaning(case: &Value) -> WriterIdMeaning {
    match case["meaning"].as_str().expect("meaning") {
        "row-means-writer" => WriterIdMeaning::RowMeansWriter,
        "returns-writer-id" => WriterIdMeaning::ReturnsWriterId,
        "no-row-means-writer" => WriterIdMeaning::NoRowMeansWriter {
            columns: case["columns"].as_array().expect("columns").iter().filter_map(text).collect(),
            index: case["index"].as_u64().map(|i| i as usize),
        },
        other => panic!("unknown meaning {other}"),
    }
}

fn check_of(v: &Value) -> WriterCheck {
    WriterCheck { is_writer: v["isWriter"].as_bool().expect("isWriter"), writer_id: text(&v["writerId"]), own_id: text(&v["ownId"]) }
}

#[test]
fn writer_check_reads_every_answer_as_the_typescript_path_does() {
    let f = fixtures();
    let cases = f["writerCheck"].as_array().expect("writerCheck");
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let m = meaning(case);
        let w = &case["writerIdRows"];
        let columns: Vec<String> = w["columns"].as_array().map(|c| c.iter().filter_map(text).collect()).unwrap_or_default();
        let writer_rows = rows(&w["rows"]);
        let own = match case["ownIdRows"].as_array() {
            Some(own_rows) if needs_own_id(&m, &writer_rows) => own_rows.first().and_then(|r| r.get(0)).and_then(text),
            _ => None,
        };
        let got = writer_check(&m, &columns, &writer_rows, own);
        assert_eq!(got, check_of(&case["expect"]), "{name}");
    }
}

#[test]
fn panic_verdicts_match_the_typescript_probe() {
    let f = fixtures();
    let cases = f["verdict"].as_array().expect("verdict");
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let shape = match case["shape"].as_str().unwrap() {
            "aurora" => TopologyShape::Aurora,
            "global-aurora" => TopologyShape::GlobalAurora,
            "multi-az" => TopologyShape::MultiAz,
            other => panic!("unknown shape {other}"),
        };
        let check = check_of(&case["check"]);
        let r = rows(&case["rows"]);
        let writer = rows_writer(shape, &r, &check);
        assert_eq!(writer, text(&case["expect"]["rowsWriter"]), "{name}: writer of the rows");
        let expected = match case["expect"]["verdict"].as_str().unwrap() {
            "writer" => Verdict::Writer,
            "new-writer" => Verdict::NewWriter,
            "none" => Verdict::Nothing,
            other => panic!("unknown verdict {other}"),
        };
        let previous = text(&case["previousWriterId"]);
        let got = verdict(&check, case["isReader"].as_bool(), writer.as_deref(), previous.as_deref());
        assert_eq!(got, expected, "{name}");
    }
}
