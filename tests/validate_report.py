#!/usr/bin/python3
"""Runs the tool on every model in MODELS_DIR (plan, rewrite, check of the rewritten model, and audit of
it) and validates each JSON report against the documented schema, then checks what the schema cannot
say: counts add up, the summary matches the entries (fixed constants kept too, and only weights are
fixed), kept tensors have no stats and re-initialized ones do (rewrite), a check's verdicts add up, an
audit lists a layer for every weight with fans, in topological order of depth.

usage: validate_report.py TOOL SCHEMA MODELS_DIR
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

import jsonschema


def table_problems(report, command):
    problems = []
    entries = report["tensors"]
    summary = report["summary"]
    if summary["tensors"] != len(entries):
        problems.append("summary.tensors != number of entries")
    if summary["reinitialized"] + summary["kept"] + summary["undecided"] != len(entries):
        problems.append("reinitialized + kept + undecided != tensors")
    if sum(summary["by_role"].values()) != len(entries):
        problems.append("by_role does not count every entry")
    fixed_kept = [e for e in entries if e["fixed"] is not None and e["action"] == "kept"
                  and e["reason"].startswith("kept: fixed ")]
    if summary["fixed_kept"] != len(fixed_kept):
        problems.append("summary.fixed_kept does not count the fixed constants kept")
    for e in entries:
        if e["fixed"] is not None and e["role"] != "weight":
            problems.append(e["name"] + ": a fixed constant with role " + e["role"])
        wrote = e["stats"] is not None
        if wrote != (command == "rewrite" and e["action"] == "reinitialized"):
            problems.append(e["name"] + ": stats present=%s for %s/%s" % (wrote, command, e["action"]))
        if e["action"] != "reinitialized" and (e["std"] is not None or e["bound"] is not None):
            problems.append(e["name"] + ": a kept tensor shows a std or bound")
    return problems


def proxy_problems(report):
    """rewrite --preset proxy: every re-initialized row says what it was drawn from, no other row does."""
    problems = []
    for e in report["tensors"]:
        drawn = e["action"] == "reinitialized" and e["scheme"] == "proxy"
        if drawn != (e["proxy_source"] is not None):
            problems.append(e["name"] + ": proxy_source present=%s for %s/%s" % (not drawn, e["action"], e["scheme"]))
        if e["action"] == "reinitialized" and e["scheme"] != "proxy":
            problems.append(e["name"] + ": re-initialized by " + e["scheme"] + " under preset proxy")
        src = e["proxy_source"]
        if src is not None and not (len(src["mean"]) == len(src["std"]) == src["channels"]):
            problems.append(e["name"] + ": proxy_source has %d means, %d stds for %d channels"
                            % (len(src["mean"]), len(src["std"]), src["channels"]))
    return problems


def check_problems(report):
    problems = []
    summary = report["summary"]
    if summary["checked"] != len(report["layers"]) or summary["ok"] + summary["off"] != summary["checked"]:
        problems.append("check summary does not add up")
    if summary["off"] != sum(layer["verdict"] == "off" for layer in report["layers"]):
        problems.append("check summary.off does not count the layers that are off")
    return problems


def audit_problems(report):
    problems = []
    audit = report["audit"]
    weights = {e["name"] for e in report["tensors"] if e["role"] == "weight" and e["fan_in"] is not None}
    listed = {layer["weight"] for layer in audit["layers"]}
    if not weights <= listed:
        problems.append("audit leaves out weights: " + ", ".join(sorted(weights - listed)))
    for layer in audit["layers"]:
        if layer["forward_std"] is None or not layer["forward_std"] > 0:
            problems.append(layer["name"] + ": no forward prediction")
    return problems


def export_problems(report, every_parameter):
    """Names are unique, and (rewrite) every re-initialized tensor is exported or said to be unnamed."""
    problems = []
    export = report["export"]
    names = [t["name"] for t in export["tensors"]]
    if len(set(names)) != len(names):
        problems.append("an exported name occurs twice")
    if "tensors" in report and not every_parameter:
        reinitialized = {e["name"] for e in report["tensors"] if e["action"] == "reinitialized"}
        accounted = {t["tensor"] for t in export["tensors"]} | {u["tensor"] for u in export["unnamed"]}
        if reinitialized != accounted:
            problems.append("export does not account for exactly the re-initialized tensors")
    return problems


def main():
    tool, schema_path, models = sys.argv[1:4]
    with open(schema_path) as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    failures = 0
    checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        for model in sorted(glob.glob(os.path.join(models, "*.onnx"))):
            for command in ("plan", "rewrite", "check", "audit", "export-weights", "proxy"):
                report_path = os.path.join(tmp, "report.json")
                out_model = os.path.join(tmp, "out.onnx")
                weights = os.path.join(tmp, "out.safetensors")
                args = [tool, command, out_model if command in ("check", "audit", "export-weights") else model,
                        "--report", report_path]
                if command == "rewrite":
                    args += ["-o", out_model, "--export-weights", weights]
                if command == "export-weights":
                    args += [weights, "--all"]
                if command == "proxy":
                    args = [tool, "rewrite", model, "-o", os.path.join(tmp, "proxy.onnx"), "--preset", "proxy",
                            "--report", report_path]
                subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
                with open(report_path) as f:
                    report = json.load(f)
                problems = [e.message for e in validator.iter_errors(report)]
                if command == "check":
                    problems += check_problems(report)
                elif command == "audit":
                    problems += audit_problems(report)
                elif command == "export-weights":
                    problems += export_problems(report, every_parameter=True)
                elif command == "proxy":
                    problems += table_problems(report, "rewrite") + proxy_problems(report)
                else:
                    problems += table_problems(report, command)
                if command == "rewrite":
                    problems += export_problems(report, every_parameter=False)
                for p in problems:
                    print("%s (%s): %s" % (os.path.basename(model), command, p))
                failures += len(problems) > 0
                checked += 1
    print("%d passed, %d failed" % (checked - failures, failures))
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
