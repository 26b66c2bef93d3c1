"""Command-line conventions shared by `kwsapp` and `kws-train` (issue 20): exit statuses,
--version, help text on every option, the KWSAPP_ environment variables, the data folder."""
from __future__ import annotations

import argparse

import pytest

from kwsapp.cli import main as kwsapp_main
from kwsapp.cli_util import run_main
from kwsapp.core.errors import AudioFileError, KwsError, UsageError


def _one_command(exc):
    def build():
        ap = argparse.ArgumentParser(prog="t")
        ap.add_argument("--n", type=int, default=0)

        def func(args):
            if exc is not None:
                raise exc
            return 0

        ap.set_defaults(func=func)
        return ap

    return build


@pytest.mark.parametrize("exc, status", [
    (None, 0),
    (KwsError("model folder /x does not exist"), 1),
    (AudioFileError("x.wav: not a WAV file"), 1),
    (UsageError("--n 5: give 0 to 4"), 2),
    (KeyboardInterrupt(), 130),
])
def test_exit_status_separates_usage_from_runtime_errors(capsys, exc, status):
    assert run_main(_one_command(exc), [], prog="t") == status
    err = capsys.readouterr().err
    assert err.count("\n") == (0 if exc is None else 1), err


def test_argparse_usage_errors_exit_2_on_both_programs(capsys):
    from kwstrain.cli import main as train_main

    for main, argv in ((kwsapp_main, ["listen", "--no-such-option"]), (train_main, ["evaluate", "--no-such-option"]),
                       (train_main, [])):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2, argv


def test_missing_model_is_a_runtime_error(capsys, tmp_path):
    from kwsapp.core.wavio import write_wav

    good = tmp_path / "good.wav"
    write_wav(good, __import__("numpy").zeros(16000, "float32"))
    assert kwsapp_main(["listen", "--input", str(good), "--model", str(tmp_path / "none")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_version_on_both_programs(capsys):
    from kwsapp import __version__
    from kwstrain.cli import main as train_main

    for main, prog in ((kwsapp_main, "kwsapp"), (train_main, "kws-train")):
        with pytest.raises(SystemExit) as e:
            main(["--version"])
        assert e.value.code == 0
        assert capsys.readouterr().out.strip() == f"{prog} {__version__}"


def _parsers(parser, name):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


@pytest.mark.parametrize("command", ["evaluate", "streamtest", "falsealarms"])
def test_every_split_option_takes_the_same_names(command):
    # evaluate once said "test", streamtest and falsealarms "testing": both now work everywhere.
    from kwstrain.cli import build_parser

    parse = build_parser().parse_args
    for given, meant in (("test", "testing"), ("testing", "testing"), ("val", "validation"),
                         ("validation", "validation")):
        assert parse([command, "--split", given]).split == meant, (command, given)
    assert parse([command]).split == "testing"
    with pytest.raises(SystemExit) as e:
        parse([command, "--split", "tests"])
    assert e.value.code == 2


def _all_parsers():
    from kwsapp.cli import build_parser as kwsapp_parser
    from kwstrain.cli import build_parser as train_parser

    yield from _parsers(kwsapp_parser(), "kwsapp")
    yield from _parsers(train_parser(), "kws-train")


def test_every_option_has_help_showing_its_default_and_no_markup():
    seen = 0
    for name, parser in _all_parsers():
        text = parser.format_help()
        assert "``" not in text, (name, text)
        formatter = parser._get_formatter()
        for action in parser._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue  # positionals are named in the usage line; hidden options are for tests
            seen += 1
            shown = formatter._expand_help(action)
            assert action.help and shown.strip(), (name, action.option_strings)
            if action.default not in (None, False, argparse.SUPPRESS) and not isinstance(
                    action, (argparse._HelpAction, argparse._VersionAction)):
                assert "default" in shown, (name, action.option_strings, shown)
    assert seen > 100  # both programs and every plugin were walked


@pytest.fixture
def clean_env(monkeypatch):
    """No KWSAPP_/KWS_ data or cache variables, and the deprecation notes not yet given."""
    from kwsapp.core import envvars

    for new, old in envvars.DEPRECATED.items():
        monkeypatch.delenv(new, raising=False)
        monkeypatch.delenv(old, raising=False)
    monkeypatch.delenv(envvars.USER_DATA, raising=False)
    monkeypatch.setattr(envvars, "_warned", set())
    return monkeypatch


def test_old_kws_environment_names_still_work_with_one_deprecation_line(clean_env, capsys, tmp_path):
    from kwstrain import dataset as D
    from kwstrain import pipeline as P

    clean_env.setenv("KWS_DATA_DIR", "/old/data")
    clean_env.setenv("KWS_CACHE_DIR", str(tmp_path / "old-cache"))
    assert D.default_data_dir() == "/old/data" and D.default_data_dir() == "/old/data"
    assert P.cache_dir() == str(tmp_path / "old-cache")
    err = capsys.readouterr().err.splitlines()
    assert err == ["kwsapp: warning: KWS_DATA_DIR is deprecated and will stop working in the next release; "
                   "set KWSAPP_DATA_DIR instead",
                   "kwsapp: warning: KWS_CACHE_DIR is deprecated and will stop working in the next release; "
                   "set KWSAPP_CACHE_DIR instead"]  # once each, however often read
    # The new names win, silently.
    clean_env.setenv("KWSAPP_DATA_DIR", "/new/data")
    clean_env.setenv("KWSAPP_CACHE_DIR", str(tmp_path / "new-cache"))
    clean_env.setenv("KWSAPP_CACHE_MAX_MB", "7")
    assert D.default_data_dir() == "/new/data" and P.cache_dir() == str(tmp_path / "new-cache")
    assert P.CACHE_MAX_MB_ENV == "KWSAPP_CACHE_MAX_MB"
    assert capsys.readouterr().err == ""


def test_default_data_folder_is_per_user_and_missing_it_says_how_to_get_it(clean_env, capsys, tmp_path):
    from kwstrain import dataset as D
    from kwstrain.cli import main as train_main

    clean_env.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    home = str(tmp_path / "xdg" / "kwsapp" / "speech_commands")
    assert D.default_data_dir() == home
    clean_env.setenv("KWSAPP_DATA", str(tmp_path / "mine"))  # kwsapp's own data folder moves it too
    assert D.default_data_dir() == str(tmp_path / "mine" / "speech_commands")
    clean_env.delenv("KWSAPP_DATA")
    assert train_main(["explore", "--out", str(tmp_path / "r")]) == 1  # no --data-dir: the default
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"kws-train: error: {home}: no such data folder"), err
    assert "kws-train download" in err[0] and "--data-dir" in err[0]
    download = dict(_all_parsers())["kws-train download"]
    assert download.parse_args([]).dir == home  # `kws-train download` fills that very folder
