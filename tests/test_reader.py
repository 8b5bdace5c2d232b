"""The YAML reader (tokensim.config.reader.load_yaml): YAML read as people mean it, and what is refused before it can
hurt (issue 12, hardened loading)."""

from __future__ import annotations

import pytest

from tokensim import UserError
from tokensim.config import reader
from tokensim.config.reader import MAX_DEPTH, MAX_FILE_BYTES


@pytest.fixture(autouse=True, params=["libyaml", "python"])
def parser(request, monkeypatch):
    """Every test here runs on libyaml's scanner and parser (what PyYAML's wheels carry) and on PyYAML's pure-Python
    ones, the fallback for a PyYAML built without libyaml."""
    if request.param == "libyaml":
        assert reader._Loader.__name__ == "_LibyamlLoader", "PyYAML here has no libyaml"
    else:
        monkeypatch.setattr(reader, "_Loader", reader._PythonLoader)
    return request.param


def _load(tmp_path, text: str | bytes):
    path = tmp_path / "input.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return reader.load_yaml(path)


@pytest.mark.parametrize(("text", "value"), [
    ("1.45e9", 1.45e9),  # YAML 1.1 reads it as a string (no dot before the exponent sign)
    ("1e-3", 0.001),
    (".5", 0.5),
    ("-3", -3),
    ("0755", 755),  # decimal, not YAML 1.1 octal
    ("0o17", 15),
    ("0x1F", 31),
    ("NO", "NO"),  # not False
    ("yes", "yes"),
    ("on", "on"),
    ("5:00", "5:00"),  # not sexagesimal 300
    ("2025-09-01", "2025-09-01"),  # not a datetime.date
    ("1_000", "1_000"),  # underscores are YAML 1.1 only: the schema then says it is not a number
    ("true", True),
    ("False", False),
    ("~", None),
])
def test_plain_scalars_read_as_typed(tmp_path, text, value):
    got = _load(tmp_path, f"x: {text}\n")["x"]
    assert got == value and type(got) is type(value)


def test_nan_and_infinite_values_reach_the_schema_which_names_the_field(tmp_path):
    values = _load(tmp_path, "a: .nan\nb: -.inf\n")
    assert values["a"] != values["a"] and values["b"] == float("-inf")


@pytest.mark.parametrize(("text", "message"), [
    ("a: 1\nb: 2\na: 3\n", "line 3, column 1 refused: duplicate key 'a' (first at line 1)"),
    ("a: &x [1, 2]\nb: *x\n", "line 2, column 4 refused: aliases (*name) are not allowed"),
    ("ages:\n  .nan: 0.5\n", "line 2, column 3 refused: key '.nan' is not a finite number"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", f"refused: nested more than {MAX_DEPTH} levels deep"),
    ("a: [1,\n", "line 2, column 1 malformed YAML: {} node content"),
])
def test_refusals_name_the_line_and_what_is_wrong(tmp_path, parser, text, message):
    with pytest.raises(UserError, match=None) as err:
        _load(tmp_path, text)
    # The parser's own words for malformed YAML: libyaml's "did not find expected node content", PyYAML's "expected
    # the node content, but found '<stream end>'".
    assert message.format("did not find expected" if parser == "libyaml" else "expected the") in str(err.value)
    assert str(err.value).startswith(str(tmp_path / "input.yaml"))


def test_an_anchor_bomb_is_refused_before_expansion(tmp_path):
    """Nine levels of aliases would expand to 10^9 items: refused at the first alias, at once."""
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    with pytest.raises(UserError, match="line 2, column 10 refused: aliases"):
        _load(tmp_path, "\n".join(lines) + "\n")


def test_bytes_that_are_not_utf8_give_the_byte_offset(tmp_path):
    with pytest.raises(UserError, match=r"not UTF-8 text \(byte 8: b'\\xff'\)"):
        _load(tmp_path, b"a: 1\nb: \xff\n")


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path):
    with pytest.raises(UserError, match=f"allowed: at most {MAX_FILE_BYTES:,} bytes"):
        _load(tmp_path, "# " + "x" * MAX_FILE_BYTES + "\n")
