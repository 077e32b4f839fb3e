//! Reading history files: the format detected from the content, EDN's own semantics, and the
//! files that must be refused (empty, too large, malformed), each error naming file and line.

use std::path::{Path, PathBuf};

use checkers::{BuiltinModel, CheckOptions, HISTORY_BYTES_MAX, InputFormat};
use serde_json::json;

/// Writes `text` to a file named `name` in the tests' scratch directory.
fn scratch(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, text).expect("writable scratch directory");
    path
}

fn verdict(path: &Path, model: BuiltinModel, initial: serde_json::Value) -> String {
    let options = CheckOptions {
        initial,
        ..CheckOptions::default()
    };
    match checkers::read_history(path).and_then(|history| model.check_with(&history, &options)) {
        Ok(report) => report.verdict.as_str().to_owned(),
        Err(error) => format!("error: {error}"),
    }
}

// Goal: both of Jepsen's layouts and JSON Lines are told apart by their content. Method:
// detect on the start of each, with comments and blanks in front.
#[test]
fn detects_the_format() {
    let cases = [
        ("{\"process\": 0}", InputFormat::Jsonl),
        ("  \n{ \"process\": 0}", InputFormat::Jsonl),
        ("[{:process 0}]", InputFormat::Edn),
        ("; Knossos\n; test\n({:process 0})", InputFormat::Edn),
        ("{:type :invoke, :process 0}\n{:type :ok}", InputFormat::Edn),
        ("", InputFormat::Jsonl),
    ];
    for (text, expect) in cases {
        assert_eq!(InputFormat::detect(text), expect, "{text:?}");
    }
}

// Goal: in EDN a nil read matches any value, in JSON Lines null is a value. Method: the same
// read of nil/null after a write of 1, from both formats, with the register at 0.
#[test]
fn nil_read_matches_any_value_in_edn_only() {
    let edn = scratch(
        "files_nil.edn",
        "[{:process 0, :type :invoke, :f :write, :value 1}\n\
          {:process 0, :type :ok, :f :write, :value 1}\n\
          {:process 1, :type :invoke, :f :read, :value nil}\n\
          {:process 1, :type :ok, :f :read, :value nil}]\n",
    );
    let jsonl = scratch(
        "files_nil.jsonl",
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"write\", \"value\": 1}\n\
         {\"process\": 0, \"type\": \"ok\", \"f\": \"write\", \"value\": 1}\n\
         {\"process\": 1, \"type\": \"invoke\", \"f\": \"read\", \"value\": null}\n\
         {\"process\": 1, \"type\": \"ok\", \"f\": \"read\", \"value\": null}\n",
    );
    assert_eq!(
        verdict(&edn, BuiltinModel::Register, json!(0)),
        "linearizable"
    );
    assert_eq!(
        verdict(&jsonl, BuiltinModel::Register, json!(0)),
        "not-linearizable"
    );
}

// Goal: a file that checks nothing cannot pass, and errors in EDN files name file and line.
// Method: an empty file, a file of only nemesis operations, and EDN files with an unknown
// `:f` and a tagged literal.
#[test]
fn refused_files() {
    let empty = scratch("files_empty.jsonl", "\n\n");
    assert_eq!(
        verdict(&empty, BuiltinModel::Register, json!(null)),
        format!("error: {}: no operations (read as jsonl)", empty.display())
    );
    let nemesis = scratch(
        "files_nemesis.edn",
        "{:process :nemesis, :type :info, :f :start, :value nil}\n",
    );
    assert_eq!(
        verdict(&nemesis, BuiltinModel::Register, json!(null)),
        format!("error: {}: no operations (read as edn)", nemesis.display())
    );
    let unknown_f = scratch(
        "files_unknown_f.edn",
        "[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0, :type :ok, :f :write, :value 1}\n {:process 0, :type :invoke, :f :push, :value 1}]",
    );
    assert_eq!(
        verdict(&unknown_f, BuiltinModel::CasRegister, json!(null)),
        format!(
            "error: {}:3: unknown f \"push\" for this model (known: read, write, cas)",
            unknown_f.display()
        )
    );
    let tagged = scratch(
        "files_tagged.edn",
        "{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :ok, :f :read, :value #jepsen.Foo{}}\n",
    );
    assert_eq!(
        verdict(&tagged, BuiltinModel::Register, json!(null)),
        format!(
            "error: {}:2: tagged literal `#jepsen.Foo` is not supported (a history needs none)",
            tagged.display()
        )
    );
}

// Goal: a file over the size cap is refused before it is read. Method: a sparse file one
// byte over the cap.
#[test]
fn size_cap() {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("files_huge.jsonl");
    let file = std::fs::File::create(&path).expect("writable scratch directory");
    file.set_len(HISTORY_BYTES_MAX + 1).expect("a sparse file");
    let error = checkers::read_history(&path).expect_err("too large");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: the file has {} bytes; histories are limited to {HISTORY_BYTES_MAX} bytes (128 MiB)",
            path.display(),
            HISTORY_BYTES_MAX + 1
        )
    );
    drop(file);
    std::fs::remove_file(&path).expect("removable");
}

// Goal: an explicit format wins over detection. Method: a JSON Lines file read as EDN fails
// with EDN's error, not JSON's.
#[test]
fn explicit_format() {
    let path = scratch(
        "files_explicit.jsonl",
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"read\", \"value\": null}\n",
    );
    let error = checkers::read_history_as(&path, InputFormat::Edn).expect_err("not EDN");
    assert_eq!(
        error.to_string(),
        format!("{}:1: a keyword needs a name after `:`", path.display())
    );
    assert!(checkers::read_history_as(&path, InputFormat::Jsonl).is_ok());
}
