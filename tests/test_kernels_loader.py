"""Tests for tokensim._kernels: header inlining, #line directives, the source hash, lazy compilation (no CuPy), and
struct layouts and constant images."""

from __future__ import annotations

import re
import sys
import types

import numpy as np
import pytest

from tokensim import _kernels
from tokensim._errors import UserError

_LINE_DIRECTIVE = re.compile(r'^#line (\d+) "([^"]+)"$')


@pytest.fixture
def kernels(tmp_path, monkeypatch):
    """A temporary kernels folder, made the loader's default: main.cu includes a.cuh, which includes b.cuh."""
    (tmp_path / "b.cuh").write_text("#pragma once\n__device__ int b_value() { return 2; }\n")
    (tmp_path / "a.cuh").write_text(
        '#include "b.cuh"\n__device__ int a_value() { return b_value() + 1; }\n'
    )
    (tmp_path / "main.cu").write_text(
        "// main kernel\n"
        '#include "a.cuh"\n'
        "#include <cuda_fp16.h>\n"
        '#include "b.cuh"\n'
        'extern "C" __global__ void k(int* out) { out[0] = a_value() + b_value(); }\n'
    )
    monkeypatch.setattr(_kernels, "kernels_dir", lambda: tmp_path)
    _kernels.clear_cache()
    yield tmp_path
    _kernels.clear_cache()


def _origins(source: str) -> list[tuple[str, int, str]]:
    """Follow #line directives as the preprocessor does: (file, line, text) for every other line."""
    origins, file_name, line_number = [], None, 0
    for text in source.splitlines():
        match = _LINE_DIRECTIVE.match(text)
        if match:
            line_number, file_name = int(match.group(1)), match.group(2)
            continue
        origins.append((file_name, line_number, text))
        line_number += 1
    return origins


def test_headers_are_inlined_recursively(kernels):
    """Quoted includes are replaced by the header text, nested ones too, and no quoted #include remains."""
    source = _kernels.inline_source("main")
    assert "__device__ int a_value()" in source
    assert "__device__ int b_value()" in source
    assert not re.search(r'^\s*#\s*include\s*"', source, flags=re.MULTILINE)
    assert "#include <cuda_fp16.h>" in source  # system headers are left to the compiler


def test_each_header_is_inlined_once(kernels):
    """A header included twice (directly and through another header) appears once, like #pragma once."""
    source = _kernels.inline_source("main.cu")
    assert source.count("__device__ int b_value()") == 1
    assert "pragma once" not in source


def test_line_directives_point_at_the_real_files(kernels):
    """Every emitted line maps, through the #line directives, to the same text at that line of its real file."""
    source = _kernels.inline_source("main")
    assert source.startswith('#line 1 "main.cu"\n')
    assert '#line 1 "a.cuh"' in source and '#line 1 "b.cuh"' in source
    assert '#line 3 "main.cu"' in source  # main.cu resumes after its include on line 2
    for file_name, line_number, text in _origins(source):
        real = (kernels / file_name).read_text().splitlines()[line_number - 1]
        if (text.startswith("//") and "already inlined" in text) or text == "":
            continue  # a repeated include or a #pragma once, blanked so the numbering stays right
        assert text == real, (file_name, line_number)


def test_missing_header_names_the_including_file_and_line(kernels):
    """An include of a header that does not exist names where it was included."""
    (kernels / "broken.cu").write_text('// x\n#include "nowhere.cuh"\n')
    with pytest.raises(FileNotFoundError, match=r"broken\.cu:2.*nowhere\.cuh"):
        _kernels.inline_source("broken")


def test_unknown_kernel_file_suggests_the_closest(kernels):
    """An unknown kernel file lists the kernels and suggests the closest name."""
    with pytest.raises(FileNotFoundError, match="did you mean 'main'"):
        _kernels.inline_source("mian")


def test_hash_changes_when_a_header_changes(kernels):
    """Editing a nested header changes the inlined source's hash and so the compile options."""
    before = _kernels.compile_options(_kernels.inline_source("main"))
    (kernels / "b.cuh").write_text("#pragma once\n__device__ int b_value() { return 3; }\n")
    after = _kernels.compile_options(_kernels.inline_source("main"))
    assert before != after
    assert [o for o in before if "SOURCE_HASH" not in o] == [o for o in after if "SOURCE_HASH" not in o]


def test_compile_options_select_real_type_and_carry_hash(kernels):
    """Options hold C++17, TOKENSIM_REAL for the dtype and the SHA-256 of the source."""
    source = _kernels.inline_source("main")
    digest = _kernels.source_hash(source)
    assert len(digest) == 64
    options = _kernels.compile_options(source, "float32")
    assert "-std=c++17" in options
    assert "-DTOKENSIM_REAL=float" in options
    assert f"-DTOKENSIM_SOURCE_HASH=sha256_{digest}" in options
    assert "-DTOKENSIM_REAL=double" in _kernels.compile_options(source, "float64")


def test_unsupported_dtype_is_a_user_error():
    """A dtype other than float32/float64 raises UserError with a suggestion."""
    with pytest.raises(UserError, match=r"float16.*did you mean"):
        _kernels.compile_options("", "float16")


def test_bundled_philox_kat_inlines_philox_header():
    """The bundled philox_kat.cu inlines philox.cuh and defines both extern "C" kernels."""
    source = _kernels.inline_source("philox_kat")
    assert '#line 1 "philox.cuh"' in source
    assert "__device__ __forceinline__ uint4 philox4x32_10(" in source
    assert 'extern "C" __global__ void philox_kat_words(' in source
    assert 'extern "C" __global__ void philox_kat_draws(' in source


def _fake_cupy(compiled: list):
    """A stand-in CuPy whose RawModule records what it was asked to compile."""

    class RawModule:
        def __init__(self, *, code, options, name_expressions):
            compiled.append({"code": code, "options": options, "name_expressions": name_expressions})

        def get_function(self, name):
            return ("kernel", name)

    return types.SimpleNamespace(RawModule=RawModule)


def test_get_function_compiles_once_per_dtype(kernels, monkeypatch):
    """get_function compiles the inlined source with its options on first use and reuses the module after."""
    compiled: list = []
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(compiled))
    assert _kernels.get_function("main", "k") == ("kernel", "k")
    _kernels.get_function("main.cu", "k")
    assert len(compiled) == 1
    assert compiled[0]["code"] == _kernels.inline_source("main")
    assert compiled[0]["options"] == _kernels.compile_options(compiled[0]["code"], "float64")
    assert compiled[0]["name_expressions"] is None
    _kernels.get_function("main", "k", dtype="float32")
    assert len(compiled) == 2 and "-DTOKENSIM_REAL=float" in compiled[1]["options"]


def test_template_kernels_are_compiled_with_name_expressions(kernels, monkeypatch):
    """A templated function name is passed to RawModule as a name expression."""
    compiled: list = []
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(compiled))
    _kernels.get_function("main", "step<float>", dtype="float32")
    assert compiled[0]["name_expressions"] == ("step<float>",)


def test_get_function_without_cupy_raises_import_error(kernels, monkeypatch):
    """Without CuPy, compiling raises ImportError and caches nothing."""
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(ImportError):
        _kernels.get_function("main", "k")
    assert not _kernels._cache


def test_main_prints_inlined_source(kernels, capsys):
    """``python -m tokensim._kernels NAME`` prints the inlined source for nvcc checks."""
    assert _kernels.main(["main"]) == 0
    assert capsys.readouterr().out == _kernels.inline_source("main")
    assert _kernels.main([]) == 2


# -- struct layouts -------------------------------------------------------------------------------------------------

_LAYOUT_HEADER = """// params of a test kernel
#define T_SLOTS 3  // a count
#define T_NEGATIVE -2
#define T_SCALE 2.5
struct Inner {
    double a;   // a double
    int flag;   /* an int, then padding */
};
struct Params {
    int months;
    real rate;                 // TOKENSIM_REAL
    double series[T_SLOTS];
    Inner inner;
    unsigned int seed; float
        wrapped;
};
__constant__ Params t_params;
"""


@pytest.fixture
def layout_kernels(kernels):
    (kernels / "params.cuh").write_text(_LAYOUT_HEADER)
    (kernels / "uses.cu").write_text('#include "params.cuh"\nextern "C" __global__ void k() {}\n')
    return kernels


def test_struct_layout_reads_fields_types_offsets_and_size(layout_kernels):
    """Fields in order with their C types, counts (#define sizes too) and C offsets; nested structs dotted; `real`
    follows the dtype."""
    layout = _kernels.struct_layout("uses", "Params", "float64")
    assert [(f.name, f.ctype, f.count, f.offset) for f in layout.fields] == [
        ("months", "int", 1, 0), ("rate", "real", 1, 8), ("series", "double", 3, 16), ("inner.a", "double", 1, 40),
        ("inner.flag", "int", 1, 48), ("seed", "unsigned int", 1, 56), ("wrapped", "float", 1, 60)]
    assert layout.size == 64 and layout.values == 9
    single = _kernels.struct_layout("uses.cu", "Params", "float32")
    assert [f.offset for f in single.fields][:3] == [0, 4, 8] and single.dtype["rate"] == np.float32
    assert _kernels.header_defines("uses") == {"T_SLOTS": 3, "T_NEGATIVE": -2}
    assert _kernels.header_defines("uses", ("T_N",)) == {"T_NEGATIVE": -2}


def test_pack_fills_every_field_and_refuses_mismatches(layout_kernels):
    """A record packs from a mapping by (dotted) name, rounded to each field's type; a missing value, an extra value,
    a wrong count or a fractional integer raises, naming the field."""
    layout = _kernels.struct_layout("uses", "Params", "float32")
    values = {"months": 60, "rate": 0.1, "series": [1, 2, 3], "inner.a": 2.5, "inner.flag": 1, "seed": 7,
              "wrapped": 1 / 3}
    record = layout.pack(values)
    assert record.shape == () and record.dtype == layout.dtype
    assert record["rate"] == np.float32(0.1) and record["inner"]["flag"] == 1
    assert _kernels.image_bytes(record).size == layout.size
    many = layout.pack_many([values, {**values, "months": 12}])
    assert list(many["months"]) == [60, 12] and _kernels.image_bytes(many).size == 2 * layout.size
    with pytest.raises(RuntimeError, match=r"Params\.inner\.a has no value"):
        layout.pack({k: v for k, v in values.items() if k != "inner.a"})
    with pytest.raises(RuntimeError, match="no field for the values spare"):
        layout.pack({**values, "spare": 1})
    with pytest.raises(RuntimeError, match=r"series: 2 values for 3 slots"):
        layout.pack({**values, "series": [1, 2]})
    with pytest.raises(RuntimeError, match="months is an integer field"):
        layout.pack({**values, "months": 1.5})


def test_struct_layout_refuses_what_it_cannot_read(layout_kernels):
    """A missing struct, a pointer field or an array sized by an unknown name is an error, not a guess."""
    with pytest.raises(RuntimeError, match="struct Missing not found"):
        _kernels.struct_layout("uses", "Missing")
    (layout_kernels / "params.cuh").write_text("struct P { double* rows; };\nstruct Q { double x[N_UNKNOWN]; };\n")
    _kernels.clear_cache()
    with pytest.raises(RuntimeError, match="a field must be"):
        _kernels.struct_layout("uses", "P")
    with pytest.raises(RuntimeError, match="N_UNKNOWN is not an integer #define"):
        _kernels.struct_layout("uses", "Q")


def test_write_constants_copies_each_image_into_its_symbol(monkeypatch):
    """write_constants copies the bytes of each image into the module's symbol of the same name."""
    written: dict = {}

    class Symbol:
        def __init__(self, shape, dtype, memptr):
            self.name, self.shape = memptr, shape

        def set(self, data):
            written[self.name] = (self.shape, bytes(data))

    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(ndarray=Symbol, uint8=np.uint8))
    module = types.SimpleNamespace(get_global=lambda name: name)
    record = np.zeros((), dtype=np.dtype([("a", np.float64), ("b", np.int32)], align=True))
    _kernels.write_constants(module, {"p": record, "keys": np.arange(3, dtype=np.uint32)})
    assert written == {"p": ((16,), bytes(16)), "keys": ((12,), np.arange(3, dtype=np.uint32).tobytes())}
