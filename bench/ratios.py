#!/usr/bin/env python3
"""Prints the ratios docs/performance.md reports from one Google Benchmark JSON run of attnspec_bench.

Usage: ratios.py bench.json. Every ratio divides two times measured in the same run, so machine load affects
both sides alike. Benchmarks missing from the run (filtered out) are skipped.
"""
import json
import re
import sys
from collections import defaultdict


def load(path):
    with open(path) as handle:
        run = json.load(handle)
    times = defaultdict(dict)  # family -> args tuple -> real time in ms
    unit_ms = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
    for bench in run["benchmarks"]:
        if bench.get("run_type", "iteration") != "iteration":
            continue
        parts = bench["name"].split("/")
        args = tuple(int(p) for p in parts[1:] if re.fullmatch(r"\d+", p))
        times[parts[0]][args] = bench["real_time"] * unit_ms[bench["time_unit"]]
    return run["context"], times


def ratio_rows(times, numerator, denominator, label):
    rows = []
    for args, time in sorted(times.get(numerator, {}).items()):
        base = times.get(denominator, {}).get(args)
        if base:
            rows.append(f"  {label:<34} {'/'.join(map(str, args)):>12} {time:10.2f} ms {base:10.2f} ms {time / base:8.2f}x")
    return rows


def section(title, rows):
    if rows:
        print(title)
        print(f"  {'':<34} {'shape':>12} {'time':>13} {'baseline':>13} {'ratio':>9}")
        print("\n".join(rows))


def main():
    context, times = load(sys.argv[1])
    print(f"# {context.get('host_name', '?')}, {context.get('num_cpus', '?')} CPUs, {context.get('date', '')}")
    accurate, gram = "BM_FieldSpectrum<double, kAccurate>", "BM_FieldSpectrum<double, kGram>"
    section("Field spectrum, double, against the floor (two XᵀX as plain GEMM):",
            ratio_rows(times, accurate, "BM_GramFloor<double>", "accurate (default)")
            + ratio_rows(times, "BM_FieldSpectrum<double, kAccurate, kInPlace>", "BM_GramFloor<double>",
                         "accurate, keep_factors = false")
            + ratio_rows(times, "BM_FieldSpectrum<double, kAccurate, kKept, kOffsetQueries>", "BM_GramFloor<double>",
                         "accurate, offset queries")
            + ratio_rows(times, gram, "BM_GramFloor<double>", "gram"))
    section("The same against the floor as symmetric rank updates (SYRK):",
            ratio_rows(times, accurate, "BM_GramFloorSyrk<double>", "accurate (default)")
            + ratio_rows(times, gram, "BM_GramFloorSyrk<double>", "gram"))
    section("Field spectrum, float, against the float GEMM floor:",
            ratio_rows(times, "BM_FieldSpectrum<float, kAccurate>", "BM_GramFloor<float>", "accurate (default)")
            + ratio_rows(times, "BM_FieldSpectrum<float, kAccurate, kInPlace>", "BM_GramFloor<float>",
                         "accurate, keep_factors = false")
            + ratio_rows(times, "BM_FieldSpectrum<float, kGram>", "BM_GramFloor<float>", "gram (double accumulation)"))
    section("Dense SVD of the materialised field against the factored spectrum:",
            ratio_rows(times, "BM_DenseSvdOfMaterialisedField", accurate, "dense BDCSVD / accurate"))
    section("Interaction matrix against its floor (two W·Wᵀ as plain GEMM):",
            ratio_rows(times, "BM_InteractionMatrix", "BM_InteractionFloor", "M spectrum"))
    section("All-rank stability pass against one n×n×d GEMM, and the exponentials it cannot avoid:",
            ratio_rows(times, "BM_StabilityAllRanks<1>", "BM_FieldGemm", "every rank, 1 thread / GEMM")
            + ratio_rows(times, "BM_StabilityAllRanks<2>", "BM_FieldGemm", "every rank, 2 threads / GEMM")
            + ratio_rows(times, "BM_StabilityCertificate<-1>", "BM_FieldGemm", "certificate only, every rank / GEMM")
            + ratio_rows(times, "BM_ExpPerEntry", "BM_FieldGemm", "one exp per entry / GEMM"))
    # What measuring one rank adds to the certificate, against what it cannot avoid: the true field (a GEMM) and
    # two exponential passes (the true attention and the rank-k one).
    certificate, one_rank = times.get("BM_StabilityCertificate<-1>", {}), times.get("BM_StabilityCertificate<8>", {})
    rows = []
    for args, time in sorted(one_rank.items()):
        gemm, exp = times.get("BM_FieldGemm", {}).get(args), times.get("BM_ExpPerEntry", {}).get(args)
        if args in certificate and gemm and exp:
            added = time - certificate[args]
            rows.append(f"  {'measured at k = 8, added':<34} {'/'.join(map(str, args)):>12} {added:10.2f} ms "
                        f"{gemm + 2 * exp:10.2f} ms {added / (gemm + 2 * exp):8.2f}x")
    section("Measuring one rank on top of the certificate, against one GEMM plus two exp passes:", rows)
    for family, label in [("BM_ModelSweep<double, kAccurate>", "sweep, double, accurate"),
                          ("BM_ModelSweep<float, kAccurate>", "sweep, float, accurate"),
                          ("BM_ModelSweep<double, kGram>", "sweep, double, gram")]:
        for args, time in sorted(times.get(family, {}).items()):
            n, d, threads = args[:3]
            print(f"{label}: 32 layers x 32 heads, n = {n}, d = {d}, {threads} thread(s): {time / 1e3:.2f} s")
    for args, time in sorted(times.get("BM_FieldSpectrumMillionTokens", {}).items()):
        print(f"million tokens, float, 2 threads: n = {args[0]}, d = {args[1]}: {time / 1e3:.2f} s")


if __name__ == "__main__":
    main()
