"""Static code metrics of a kernel, without a GPU: registers, instruction counts and the largest loops of its SASS.

What the compiler makes of a kernel decides much of its speed on a latency-bound GPU (the Monte Carlo kernel's H200
profile: benchmarks/profile_montecarlo_h200.log), and it can be read on any machine with nvcc. This script compiles
``kernels/<name>.cu`` (headers inlined by tokensim._kernels) with nvcc for one architecture and real type, reads
ptxas's register report, disassembles the cubin with line information (nvdisasm) and prints:

- registers per thread, stack frame and spills (ptxas -v);
- the number of SASS instructions of each kernel function;
- the largest loops (a backward branch and the instructions it spans), each with the source files its instructions
  come from and its most frequent opcodes. The Monte Carlo kernel's month loop and IRR loops show up here.

Static counts are not timings: a loop body's instructions are what one iteration may execute at most (branches inside
can skip parts). Use them to compare two versions of a kernel; time on a device (gpu_check.sh) to compare speeds.

Needs nvcc and nvdisasm on PATH or in $NVDISASM (``pip install nvidia-cuda-nvdisasm`` provides it under
``site-packages/nvidia/cu13/bin``). Usage:
``python benchmarks/sass_stats.py montecarlo [--arch sm_90] [--real float] [--loops 4] [--scenario NAME]``.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tokensim import _kernels  # noqa: E402

_LINE_INFO = re.compile(r'//## File "([^"]+)", line (\d+)')
_LABEL = re.compile(r"^(\.L_x_\d+):")
_INSTRUCTION = re.compile(r"^\s+/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
_BRANCH = re.compile(r"BRA(?:\.\w+)*\s+`\((\.L_x_\d+)\)")
_PREDICATE = re.compile(r"^@!?U?P\w+\s+")


def _opcode(text: str) -> str:
    return _PREDICATE.sub("", text).split()[0].split(".")[0]


def parse(disassembly: str) -> tuple[dict[str, list[tuple[str, str]]], dict[str, dict[str, int]]]:
    """From ``nvdisasm --print-line-info`` output: {function: [(instruction text, "file:line" or "?")]} and
    {function: {label: index of the instruction it marks}}."""
    functions: dict[str, list[tuple[str, str]]] = {}
    labels: dict[str, dict[str, int]] = {}
    current, source = None, "?"
    for line in disassembly.splitlines():
        header = re.match(r"^\s*\.text\.(\w+):", line)
        if header:
            current = header.group(1)
            functions[current], labels[current] = [], {}
            continue
        if current is None:
            continue
        info = _LINE_INFO.search(line)
        if info:
            source = f"{Path(info.group(1)).name}:{info.group(2)}"
            continue
        label = _LABEL.match(line.strip())
        if label:
            labels[current][label.group(1)] = len(functions[current])
            continue
        instruction = _INSTRUCTION.match(line)
        if instruction:
            functions[current].append((instruction.group(2).strip(), source))
    return functions, labels


def loops(instructions: list[tuple[str, str]], labels: dict[str, int]) -> list[tuple[int, int, int]]:
    """(size, first, last) of each backward branch's span, largest first."""
    found = []
    for index, (text, _) in enumerate(instructions):
        branch = _BRANCH.search(text)
        if branch and labels.get(branch.group(1), index + 1) <= index:
            start = labels[branch.group(1)]
            found.append((index - start + 1, start, index))
    return sorted(found, reverse=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kernel", help="kernels/<kernel>.cu")
    parser.add_argument("--arch", default="sm_90")
    parser.add_argument("--real", default="float", choices=("float", "double"))
    parser.add_argument("--loops", type=int, default=4, help="largest loops to list per function")
    parser.add_argument("--scenario", help="montecarlo only: compile in this scenario's driver structure, as the GPU "
                                           "run does (tokensim.montecarlo._kernel.structure_options)")
    args = parser.parse_args()
    defines: tuple[str, ...] = ()
    if args.scenario:
        from tokensim.config.scenario import load_scenario
        from tokensim.montecarlo import _kernel as _mckernel
        from tokensim.resolve.montecarlo import montecarlo_model as prepare

        dtype = "float32" if args.real == "float" else "float64"
        defines = _mckernel.structure_options(_mckernel.pack_params(prepare(load_scenario(args.scenario)), dtype))
    nvcc = shutil.which("nvcc")
    nvdisasm = os.environ.get("NVDISASM") or shutil.which("nvdisasm")
    if nvcc is None or nvdisasm is None:
        print("sass_stats: needs nvcc and nvdisasm (pip install nvidia-cuda-nvdisasm; set NVDISASM to its path)",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / f"{args.kernel}.cu"
        source.write_text(_kernels.inline_source(args.kernel))
        cubin = Path(folder) / f"{args.kernel}.cubin"
        built = subprocess.run([nvcc, "-std=c++17", f"-arch={args.arch}", f"-DTOKENSIM_REAL={args.real}", *defines,
                                "-cubin", "-lineinfo", "-Xptxas", "-v", str(source), "-o", str(cubin)],
                               capture_output=True, text=True)
        if built.returncode != 0:
            print(built.stderr, file=sys.stderr)
            return 1
        disassembly = subprocess.run([nvdisasm, "--print-line-info", str(cubin)], capture_output=True, text=True,
                                     check=True).stdout
    print(f"# {args.kernel}.cu, {args.arch}, real = {args.real}" + (f", {' '.join(defines)}" if defines else ""))
    for line in built.stderr.splitlines():
        if re.search(r"registers|stack frame|spill", line):
            print("ptxas:", line.split(":", 1)[-1].strip())
    functions, labels = parse(disassembly)
    for name, instructions in functions.items():
        print(f"{name}: {len(instructions)} instructions")
        for size, first, last in loops(instructions, labels[name])[:args.loops]:
            body = instructions[first:last + 1]
            files = collections.Counter(source.split(":")[0] for _, source in body)
            opcodes = collections.Counter(_opcode(text) for text, _ in body)
            print(f"  loop of {size} instructions at {first}-{last}: "
                  f"{', '.join(f'{f} {n}' for f, n in files.most_common(6))}; "
                  f"{', '.join(f'{o} {n}' for o, n in opcodes.most_common(8))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
