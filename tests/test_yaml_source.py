"""Safe loading: positions, YAML 1.2 scalars, and every hostile input turned into a diagnostic."""

from __future__ import annotations

import pytest

from compiler.yaml_source import MAX_DEPTH, decode, parse_documents, resolve_plain


def codes(text: str) -> list[tuple[int, int, str]]:
    _, diagnostics = parse_documents(text, "f.yaml")
    return [(d.line, d.col, d.code) for d in diagnostics]


@pytest.mark.parametrize(("text", "value"), [
    ("yes", "yes"), ("no", "no"), ("on", "on"), ("true", True), ("False", False), ("~", None), ("null", None),
    ("12", 12), ("-3", -3), ("0o17", 15), ("0x1f", 31), ("1.5", 1.5), ("2.0e-4", 2.0e-4), (".inf", float("inf")),
    ("2027-01-31", "2027-01-31"), ("1_000", "1_000"), ("0.1.2", "0.1.2"), ("+", "+"),
])
def test_core_schema_scalars(text, value):
    assert resolve_plain(text) == value


def test_positions_of_keys_and_values():
    docs, _ = parse_documents("a:\n  b: [1, 2]\n---\nc: x\n", "f.yaml")
    assert docs[0].locate(("a", "b"), "key") == (2, 3)
    assert docs[0].locate(("a", "b", 1)) == (2, 10)
    assert docs[0].locate(("a", "missing", "deeper")) == (2, 3)  # nearest written ancestor
    assert docs[1].line == 4 and docs[1].locate(("c",)) == (4, 4)


def test_python_tags_are_never_constructed(tmp_path):
    marker = tmp_path / "pwned"
    text = f"a: !!python/object/apply:os.system ['touch {marker}']\nb: !custom 1\n"
    assert [c for *_, c in codes(text)] == ["E013", "E013"]
    assert not marker.exists()


def test_billion_laughs_is_bounded():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    assert codes("\n".join(lines)) == [(8, 4, "E014")]  # at the largest anchor that aliases repeat


def test_deep_nesting_is_bounded_without_crashing():
    assert [c for *_, c in codes("a: " + "[" * 100_000 + "]" * 100_000)] == ["E015"]
    assert codes("a: " + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2)) == []


def test_duplicate_keys_report_both_places():
    _, diagnostics = parse_documents("a: 1\nb:\n  c: 1\n  c: 2\n", "f.yaml")
    (d,) = diagnostics
    assert (d.line, d.col, d.code) == (4, 3, "E012") and "line 3" in d.hint


def test_tab_indentation_named():
    assert codes("a:\n\tb: 1\n") == [(2, 1, "E011")]


def test_documents_before_a_syntax_error_are_kept():
    docs, diagnostics = parse_documents("a: 1\n---\nb: [1,\n", "f.yaml")
    assert [d.data for d in docs] == [{"a": 1}] and diagnostics[0].code == "E010"


def test_non_mapping_document_and_merge_keys():
    assert [c for *_, c in codes("- a\n- b\n")] == ["E016"]
    assert "E013" in [c for *_, c in codes("base: &b {x: 1}\nother:\n  <<: *b\n")]


def test_explicit_tags_are_checked():
    docs, _ = parse_documents("a: !!str 12\nb: !!float 3\n", "f.yaml")
    assert docs[0].data == {"a": "12", "b": 3.0}
    assert codes("x: !!int abc\n") == [(1, 4, "E102")]


def test_decode_rejects_binary_invalid_utf8_and_huge_files():
    assert decode(b"a: 1\x00\x01", "f")[1].code == "E002"
    text, problem = decode(b"a: 1\nb: \xff\n", "f")
    assert text is None and (problem.line, problem.col, problem.code) == (2, 4, "E003")
    assert decode(b"#" * (3 * 1024 * 1024), "f")[1].code == "E004"
    assert decode("\ufeffa: 1".encode(), "f") == ("a: 1", None)
