#!/usr/bin/env python3
"""The compile cost of the same translation units in two build trees (ccache off), one unit after
the other, alternating trees: how much a build against another LibTorch adds.

    /usr/bin/python3 bench/compile_cost.py build build-cuda

Each unit's command comes from the tree's compile_commands.json. The first tree's objects are
written under /tmp, so its build stays as it was; the second tree's are written in place (its
precompiled header must exist before its units compile, so the header comes first), so that
tree's next build compiles afresh.
"""
import json
import os
import re
import subprocess
import sys
import time

UNITS = {
    "precompiled header": "CMakeFiles/diffmem_pch.dir/cmake_pch.hxx.cxx",
    "search layer, unit 0": "CMakeFiles/diffmem_search.dir/Unity/unity_0_cxx.cxx",
    "model layer, unit 0": "CMakeFiles/diffmem_model.dir/Unity/unity_0_cxx.cxx",
    "attack tests, unit 0": "tests/CMakeFiles/test_attack.dir/Unity/unity_0_cxx.cxx",
}


def commands(tree):
    path = os.path.join(tree, "compile_commands.json")
    if not os.path.exists(path):
        sys.exit(f"compile_cost: {path} not found (configure {tree} first)")
    found = {}
    for entry in json.load(open(path)):
        for name, suffix in UNITS.items():
            if entry["file"].endswith(suffix):
                found[name] = (entry["command"], entry["directory"])
    missing = [n for n in UNITS if n not in found]
    if missing:
        sys.exit(f"compile_cost: {path} has no unit for {', '.join(missing)} (a unity build expected)")
    return found


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: compile_cost.py FIRST_BUILD SECOND_BUILD")
    first, second = sys.argv[1:]
    cmds = {first: commands(first), second: commands(second)}
    env = dict(os.environ, CCACHE_DISABLE="1")
    totals = {first: 0.0, second: 0.0}
    print(f"| unit | {first} s | {second} s | ratio |\n|---|---:|---:|---:|")
    for name in UNITS:
        row = {}
        for tree in (first, second):
            cmd, cwd = cmds[tree][name]
            if tree == first:
                cmd = re.sub(r" -o \S+", f" -o /tmp/compile_cost_{len(row)}.o", cmd)
            t = time.time()
            r = subprocess.run(cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"compile_cost: {name} failed in {tree}:\n{r.stderr[-2000:]}")
            row[tree] = time.time() - t
            totals[tree] += row[tree]
        print(f"| {name} | {row[first]:.1f} | {row[second]:.1f} | {row[second] / row[first]:.2f} |", flush=True)
    print(f"| all | {totals[first]:.1f} | {totals[second]:.1f} | {totals[second] / totals[first]:.2f} |")


if __name__ == "__main__":
    main()
