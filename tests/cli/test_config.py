"""Project configuration: discovery, validation, per-file settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphfix.cli.config import ConfigError, find_config, load_config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_found_upwards_from_a_subfolder(tmp_path: Path) -> None:
    config = write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n[tool.graphfix]\nselect = ["GF1"]\n')
    sub = tmp_path / "models" / "deep"
    sub.mkdir(parents=True)
    assert find_config(sub) == config
    assert load_config(start=sub).get("select") == ["GF1"]


def test_pyproject_without_the_table_is_skipped(tmp_path: Path) -> None:
    outer = write(tmp_path / "graphfix.toml", 'ignore = ["GF301"]\n')
    write(tmp_path / "inner" / "pyproject.toml", '[project]\nname = "x"\n')
    assert find_config(tmp_path / "inner") == outer


def test_graphfix_toml_wins_in_the_same_folder(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.graphfix]\nselect = ["GF2"]\n')
    own = write(tmp_path / "graphfix.toml", 'select = ["GF1"]\n')
    assert find_config(tmp_path) == own
    assert load_config(start=tmp_path).get("select") == ["GF1"]


def test_no_file_gives_defaults(tmp_path: Path) -> None:
    config = load_config(start=tmp_path)
    assert config.path is None and config.label == "default" and config.get("select") is None


def test_unknown_key_is_named(tmp_path: Path) -> None:
    write(tmp_path / "graphfix.toml", 'selekt = ["GF1"]\n')
    with pytest.raises(ConfigError, match="unknown key 'selekt'"):
        load_config(start=tmp_path)


@pytest.mark.parametrize("text, message", [
    ("select = 3\n", "select must be a list of strings"),
    ("unsafe-fixes = \"yes\"\n", "unsafe-fixes must be true or false"),
    ("atol = -1\n", "atol must be a non-negative number"),
    ("[input-shapes]\n\"*.onnx\" = { x = [1, 0] }\n", "must be a list of positive integers"),
    ("[per-file-ignores]\n\"*.onnx\" = 5\n", "must be a list of codes"),
    ("select = [\n", "not valid TOML"),
])
def test_bad_values_are_refused_with_the_key(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path / "graphfix.toml", text)
    with pytest.raises(ConfigError, match=message):
        load_config(start=tmp_path)


def test_per_file_settings_match_relative_paths_and_names(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", """
[tool.graphfix]
exclude = ["third_party/*"]
[tool.graphfix.per-file-ignores]
"legacy/*.onnx" = ["GF103"]
"*_dynamo.onnx" = "GF301"
[tool.graphfix.input-shapes]
"detectors/*.onnx" = { images = [1, 3, 640, 640] }
""")
    config = load_config(start=tmp_path)
    assert config.ignores_for(tmp_path / "legacy" / "a.onnx") == ["GF103"]
    assert config.ignores_for(tmp_path / "legacy" / "sub" / "b_dynamo.onnx") == ["GF103", "GF301"]
    assert config.ignores_for(tmp_path / "other" / "a.onnx") == []
    assert config.input_shapes_for(tmp_path / "detectors" / "yolo.onnx") == {"images": [1, 3, 640, 640]}
    assert config.input_shapes_for(tmp_path / "yolo.onnx") == {}
    assert config.excluded(tmp_path / "third_party" / "x.onnx")
    assert not config.excluded(tmp_path / "models" / "x.onnx")


# -- wired into the commands ------------------------------------------------------------------------


def _models(tmp_path: Path) -> None:
    import onnx
    from graphs import RESIZE_SIZES, VIEW_SIZE0, parse

    (tmp_path / "legacy").mkdir()
    onnx.save(parse(VIEW_SIZE0), str(tmp_path / "legacy" / "view.onnx"))
    onnx.save(parse(RESIZE_SIZES), str(tmp_path / "resize.onnx"))


def _codes(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, list[str]]:
    import json

    from graphfix.cli import main

    main(["lint", "--format", "json", "-j", "1", *args])
    document = json.loads(capsys.readouterr().out)
    return {Path(e["file"]).name: sorted(f["code"] for f in e["findings"]) for e in document["files"]}


def test_lint_uses_the_configuration_and_flags_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _models(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert _codes(capsys, ".") == {"view.onnx": ["GF101"], "resize.onnx": ["GF201"]}
    write(tmp_path / "pyproject.toml", '[tool.graphfix]\nexclude = ["skip/*"]\n'
          '[tool.graphfix.per-file-ignores]\n"legacy/*.onnx" = ["GF101"]\n')
    (tmp_path / "skip").mkdir()
    (tmp_path / "skip" / "broken.onnx").write_bytes(b"junk")
    assert _codes(capsys, ".") == {"view.onnx": [], "resize.onnx": ["GF201"]}
    write(tmp_path / "graphfix.toml", 'select = ["GF1"]\nexclude = ["skip"]\n')
    assert _codes(capsys, ".") == {"view.onnx": ["GF101"], "resize.onnx": []}  # graphfix.toml wins, alone
    assert _codes(capsys, ".", "--select", "GF2") == {"view.onnx": [], "resize.onnx": ["GF201"]}  # the flag wins


def test_unknown_key_fails_the_command_with_its_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from graphfix.cli import main

    _models(tmp_path)
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "graphfix.toml", 'selekt = ["GF1"]\n')
    assert main(["lint", "."]) == 2
    assert "unknown key 'selekt'" in capsys.readouterr().err


def test_config_command_says_where_each_setting_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from graphfix.cli import main

    monkeypatch.chdir(tmp_path)
    write(tmp_path / "pyproject.toml", '[tool.graphfix]\nignore = ["GF301"]\ntrt-version = "8.6"\n')
    assert main(["config", "--format", "json"]) == 0
    settings = json.loads(capsys.readouterr().out)["settings"]
    source = f"{tmp_path / 'pyproject.toml'} [tool.graphfix]"
    assert settings["ignore"] == {"value": ["GF301"], "source": source}
    assert settings["trt-version"] == {"value": "8.6", "source": source}
    assert settings["select"]["source"] == "default" and settings["atol"]["source"] == "default"
    assert main(["config"]) == 0
    text = capsys.readouterr().out
    assert "GF301" in text and "pyproject.toml" in text and "default" in text


def test_fix_takes_tolerances_and_input_shapes_from_the_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import graphfix.fixing
    from graphfix.cli import main

    _models(tmp_path)
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "graphfix.toml", 'atol = 0.5\nrtol = 0.25\nunsafe-fixes = true\n'
          '[input-shapes]\n"resize*.onnx" = { x = [1, 3, 8, 8] }\n"other.onnx" = { x = [1, 1, 1, 1] }\n')
    seen: list[dict[str, object]] = []
    real = graphfix.fixing.fix

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(kwargs)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(graphfix.fixing, "fix", spy)
    assert main(["fix", "resize.onnx", "-o", "out.onnx"]) == 0
    assert seen[-1]["atol"] == 0.5 and seen[-1]["rtol"] == 0.25 and seen[-1]["unsafe_fixes"] is True
    assert seen[-1]["input_shapes"] == {"x": [1, 3, 8, 8]}
    assert main(["fix", "resize.onnx", "-o", "out.onnx", "--atol", "0.125", "--input-shape", "x:2x3x8x8"]) == 0
    assert seen[-1]["atol"] == 0.125 and seen[-1]["rtol"] == 0.25  # the flag wins
    assert seen[-1]["input_shapes"] == {"x": [2, 3, 8, 8]}


def test_ignore_from_the_file_and_from_the_flag_add_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    _models(tmp_path)
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "graphfix.toml", 'ignore = ["GF2"]\n')
    assert _codes(capsys, ".") == {"view.onnx": ["GF101"], "resize.onnx": []}
    assert _codes(capsys, ".", "--ignore", "GF1") == {"view.onnx": [], "resize.onnx": []}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_trt_version_from_the_file_reaches_the_gf5xx_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str], jobs: str) -> None:
    import onnx
    import onnx.parser

    monkeypatch.chdir(tmp_path)
    model = onnx.parser.parse_model('<ir_version: 8, opset_import: ["" : 18]>\n'
                                    "agraph (float[N, 4] x) => (float[N, 4] y) { y = Relu(x) }")
    onnx.save(model, str(tmp_path / "opset18.onnx"))
    onnx.save(model, str(tmp_path / "opset18b.onnx"))
    assert _codes(capsys, ".", "-j", jobs) == {"opset18.onnx": [], "opset18b.onnx": []}
    write(tmp_path / "graphfix.toml", 'trt-version = "8.6"\n')  # its ONNX parser stops at opset 17
    assert all(codes and all(c.startswith("GF5") for c in codes)
               for codes in _codes(capsys, ".", "-j", jobs).values())
    assert _codes(capsys, ".", "-j", jobs, "--trt-version", "10") == {"opset18.onnx": [], "opset18b.onnx": []}
