use serde::Deserialize;

use crate::protocol::anthropic::{Content, ContentBlock, JsonText, MessagesRequest};
use crate::protocol::text::Text;

#[test]
fn json_text_passes_a_string_through_verbatim_and_decodes_on_demand() {
    let json = r#"{"d": "line 1\nline \"2\" \u00e9\t/ \/"}"#;
    #[derive(Deserialize)]
    struct T {
        d: JsonText,
    }
    let t: T = serde_json::from_str(json).unwrap();
    assert_eq!(t.d.json(), r#""line 1\nline \"2\" \u00e9\t/ \/""#);
    assert_eq!(t.d.text(), "line 1\nline \"2\" \u{e9}\t/ /");
    assert_eq!(serde_json::to_string(&t.d).unwrap(), t.d.json());
    assert!(!t.d.is_empty());

    let plain: JsonText = serde_json::from_str(r#""no escapes""#).unwrap();
    assert!(matches!(
        plain.text(),
        std::borrow::Cow::Borrowed("no escapes")
    ));
    let empty: JsonText = serde_json::from_str(r#""""#).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.text(), "");

    for bad in ["1", "null", "{}", "[\"a\"]", "true"] {
        let err = serde_json::from_str::<JsonText>(bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a string"), "{bad}: {err}");
    }
}

#[test]
fn parses_every_claude_code_fixture() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/claude-code");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".json") || name.contains("headers") {
            continue;
        }
        let body = std::fs::read(&path).unwrap();
        let req: MessagesRequest = serde_json::from_slice(&body).unwrap();
        assert!(!req.messages.is_empty(), "{name}");
        assert!(req.tools.as_ref().unwrap().len() >= 12, "{name}");
        n += 1;
    }
    assert_eq!(n, 12);
}

#[test]
fn unknown_blocks_survive_and_known_blocks_check_fields() {
    let c: Content = serde_json::from_str(
        r#"[{"type":"tool_reference","tool_name":"WebFetch"},{"type":"brand_new","x":1}]"#,
    )
    .unwrap();
    let Content::Blocks(b) = c else { panic!() };
    assert_eq!(b[0].as_text(), Some(Text::from("Tool loaded: WebFetch")));
    assert!(matches!(&b[1], ContentBlock::Other { kind, text: None } if kind == "brand_new"));
    let err = serde_json::from_str::<Content>(r#"[{"type":"text"}]"#).unwrap_err();
    assert!(err.to_string().contains("`text`"), "{err}");
}

#[test]
fn tool_use_input_is_kept_raw() {
    let c: Content = serde_json::from_str(
        r#"[{"type":"tool_use","id":"toolu_1","name":"Read","input":{"file_path":"/a","n":1}}]"#,
    )
    .unwrap();
    let Content::Blocks(b) = c else { panic!() };
    let ContentBlock::ToolUse { input, .. } = &b[0] else {
        panic!()
    };
    assert_eq!(input.get(), r#"{"file_path":"/a","n":1}"#);
}

#[test]
fn an_unpaired_surrogate_in_a_text_is_refused_in_either_form() {
    for body in [r#""\ud800""#, r#"[{"type":"text","text":"x \udfff y"}]"#] {
        // A string content is decoded by the parser, which names the
        // escape; a text block's literal is kept raw and checked by us.
        let err = serde_json::from_str::<Content>(body).unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains("surrogate") || err.contains("hex escape"),
            "{body}: {err}"
        );
    }
    let ok: Content = serde_json::from_str(r#""\uD83D\uDE00""#).unwrap();
    assert!(matches!(ok, Content::Text(t) if t.text() == "\u{1f600}"));
}
