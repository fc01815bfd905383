"""The `creator-recommender` command: parse arguments, call the package, print.

    creator-recommender simulate  --out DIR [--seed N] [--creators N] [--campaigns N]
                                  [--hires N] [--hiring market|habitual|random]
    creator-recommender validate  --creators F [--campaigns F] [--outcomes F] [--rejects F]
    creator-recommender train     [--data DIR] [--model-dir DIR] [--experiment NAME] [--seed N]
    creator-recommender score     --creators F --campaign F [--model M] [--out F] [--top K] ...
    creator-recommender plan      --creators F --campaign F --budget USD [--explore S] ...
    creator-recommender http      [--host 127.0.0.1] [--port 8000] [--model M] [--workers N]
    creator-recommender feedback  --data DIR --new F [--rejects F]
    creator-recommender real      [--src DIR] [--out F]
    creator-recommender champion  [--set VERSION]
    creator-recommender tracking-server [--folder DIR] [--port 5000]

Defaults (data, models, the MLflow store) are relative to the working directory
(see recommender.config). A whole-run problem is one line on stderr and exit
code 1, never a traceback; Ctrl-C is one line too, and exit code 130.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recommender import config
from recommender.errors import SettingError

if TYPE_CHECKING:
    from recommender.mlops.champion import ChampionStatus

PROG = "creator-recommender"
Command = Callable[[argparse.Namespace], int]
MODEL_HELP = (
    f"model directory or MLflow URI (default: the champion, {config.CHAMPION_URI} "
    "with MLFLOW_TRACKING_URI set, else models/champion)"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from recommender.errors import USER_ERRORS

    # MLflow's INFO lines and download bars drown what the commands print (the user may
    # still ask for them); set before MLflow is imported, which reads them then.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    config.mlflow_client_defaults()  # no download bars, no run URLs: the commands say it

    with warnings.catch_warnings():
        if args.command == "train":  # LightGBM's notes on small folds drown the metrics table
            warnings.filterwarnings("ignore", category=UserWarning, module="lightgbm")
        else:
            warnings.filterwarnings("ignore", category=UserWarning)
        try:
            command: Command = args.run
            return command(args)
        except USER_ERRORS as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt as exc:  # Ctrl-C; a run's files carry a note on what is left
            print(f"error: interrupted{_noted(exc)}", file=sys.stderr)
            return 128 + signal.SIGINT
        except BrokenPipeError as exc:  # `... | head`: the reader left
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
            if getattr(exc, "__notes__", None):  # before the run's files were put in place
                print(f"error: the output stream closed before the run ended{_noted(exc)}",
                      file=sys.stderr)  # fmt: skip
            return 1
        except OSError as exc:  # a folder that cannot be written, a server out of reach
            where = f"{exc.filename}: " if exc.filename else ""
            print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
            return 1


def _noted(exc: BaseException) -> str:
    """The notes an exception carries (output_set's "nothing was written: ..."), as "; "
    and each."""
    return "".join(f"; {note}" for note in getattr(exc, "__notes__", ()))


def build_parser() -> argparse.ArgumentParser:
    """The command's parser: one subparser per subcommand, each knowing what it runs."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Choose social-media creators for a campaign from your own results."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_simulate, _add_validate, _add_train, _add_score, _add_plan, _add_http,
                _add_feedback, _add_real, _add_champion, _add_tracking_server):  # fmt: skip
        add(commands)
    return parser


def _version() -> str:
    from recommender import __version__

    return __version__


# --- simulate -----------------------------------------------------------------------


def _add_simulate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser("simulate", help="generate the demo market (deterministic in --seed)")
    sub.add_argument("--out", type=Path, help="output folder (default data/demo)")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--creators", type=int, default=20_000, help="number of creators")
    sub.add_argument("--campaigns", type=int, default=300, help="number of campaigns")
    sub.add_argument(
        "--hires",
        type=_at_least_one,
        help="creators each campaign hires (default 20 to 60, drawn per campaign)",
    )
    sub.add_argument(
        "--hiring",
        choices=("market", "habitual", "random"),
        default="market",
        help="how brands pick: market (by niche, leaning to bigger names they can "
        "pay), habitual (the biggest affordable names of their niche, as small "
        "histories do) or random (uniform on their platform: an experiment)",
    )
    sub.add_argument("--format", choices=("csv", "parquet", "jsonl"), default="csv")
    sub.set_defaults(run=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    """Write a demo market: creators, campaigns, outcomes, and the truth under truth/."""
    if args.creators < 100 or args.campaigns < 1:
        raise SettingError("need at least 100 creators and 1 campaign")
    from recommender.datasets.simulate import generate_market, write_market

    market = generate_market(args.creators, args.campaigns, args.seed, args.hires, args.hiring)
    for path in write_market(market, args.out or config.settings().demo_data, args.format):
        print(f"wrote {path}")
    print(
        f"{len(market.creators):,} creators, {len(market.campaigns):,} campaigns, "
        f"{len(market.outcomes):,} outcomes (seed {args.seed})"
    )
    return 0


# --- validate -----------------------------------------------------------------------


def _add_validate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser("validate", help="check files against the data contract")
    sub.add_argument("--creators", required=True,
                     help="creators file (.csv/.tsv/.parquet/.jsonl/.json/.xlsx)")  # fmt: skip
    sub.add_argument("--campaigns", help="campaigns file")
    sub.add_argument("--outcomes", help="outcomes file (checked against the two above)")
    sub.add_argument("--rejects", help="write rejected rows here, with table and reason")
    sub.add_argument("--sheet", help="the sheet to read in the .xlsx files given: its name, or its "
                     "number counting from 1 (default the first)")  # fmt: skip
    sub.set_defaults(run=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    """Count valid and rejected rows per table, name the common problems, write the rejects.
    Exits 1 when a table has no valid row."""
    from recommender.contract import combined_rejects, summarise
    from recommender.datasets.files import load_tables
    from recommender.io import check_outputs, write_table

    paths = {"creators": args.creators, "campaigns": args.campaigns, "outcomes": args.outcomes}
    check_outputs({"rejects file": args.rejects}, {f"{k} file": v for k, v in paths.items()})
    tables = load_tables({name: path for name, path in paths.items() if path is not None},
                         args.sheet, say=print)  # fmt: skip
    for line in summarise(tables):
        print(line)
    rejects = combined_rejects(tables)
    if args.rejects:
        write_table(rejects, args.rejects)
        print(f"wrote {len(rejects):,} rejected rows to {args.rejects}")
    elif len(rejects):
        print("(pass --rejects FILE to write the rejected rows with their reasons)")
    empty = [name for name, checked in tables.items() if checked.counts[0] == 0]
    if empty:
        print(f"error: no valid rows in {', '.join(empty)}", file=sys.stderr)
        return 1
    return 0


# --- train --------------------------------------------------------------------------


def _add_train(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser("train", help="train on campaign history, track it in MLflow")
    sub.add_argument("--data", type=Path, help="folder with creators, campaigns, outcomes "
                     "(default: generate the demo market into data/demo)")  # fmt: skip
    sub.add_argument("--model-dir", type=Path, help="export here (default models/latest)")
    sub.add_argument("--experiment", help=f"MLflow experiment (default {config.MODEL_NAME})")
    sub.add_argument("--seed", type=int, default=0, help="seed of the split, models and demo")
    sub.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    sub.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    """Train, print the held-out metrics against the baselines, log, gate and export."""
    from recommender.api import train

    settings = config.settings()
    data = args.data
    if data is None:
        from recommender.datasets.simulate import generate_market, write_market

        data = settings.demo_data
        write_market(generate_market(seed=args.seed), data)
        print(f"generated the demo market (seed {args.seed}) into {data}")
    train(
        data,
        seed=args.seed,
        track=not args.no_tracking,
        experiment=args.experiment,
        model_dir=args.model_dir or settings.model_dir,
        progress=print,
    )
    return 0


# --- score and plan -----------------------------------------------------------------


def _inputs(sub: argparse.ArgumentParser, out: str) -> None:
    sub.add_argument("--creators", required=True, type=_path_or_uri, help="creators file")
    sub.add_argument("--campaign", required=True, type=Path,
                     help="a .json campaign, or a campaigns file")  # fmt: skip
    sub.add_argument("--model", help=MODEL_HELP)
    sub.add_argument("--out", type=_file_path, default=Path(out))
    sub.add_argument("--rejects", type=_file_path, help="default: <out>.rejects beside --out")
    sub.add_argument("--sheet", help="the sheet of an .xlsx creators file: its name, or its number "
                     "counting from 1 (default the first)")  # fmt: skip


def _add_score(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser("score", help="score a creators file for one or more campaigns")
    _inputs(sub, "scored.csv")
    sub.add_argument("--top", type=_at_least_one, help="keep the best K creators of each campaign")
    sub.add_argument("--show", type=_at_least_zero, default=0,
                     help="print the best N rows with reasons")  # fmt: skip
    sub.add_argument("--workers", type=_at_least_one,
                     help="scoring processes (default: one per core for large files)")  # fmt: skip
    sub.add_argument("--engine", choices=("local", "spark"), default="local",
                     help="local: this machine, files in and out; spark: a Spark cluster, "
                     "Parquet folders in and out (default local)")  # fmt: skip
    sub.add_argument("--master", help="Spark master (default: $SPARK_MASTER, else the active "
                     "session, else local[*]); with --engine spark")  # fmt: skip
    sub.set_defaults(run=run_score, out=None)


def _path_or_uri(text: str) -> Any:
    """A local path, or a URI such as s3a://bucket/x kept as given (Path would fold its //)."""
    from urllib.parse import urlparse

    return text if len(urlparse(text).scheme) > 1 else Path(text)


def _file_path(text: str) -> Any:
    """A path naming a file (not '', '/' or '.'), or a URI, for argparse."""
    path = _path_or_uri(text)
    if isinstance(path, str):
        return path
    path = Path(text)
    if not path.name.strip(". "):
        raise argparse.ArgumentTypeError(f"must name a file (got {text!r})")
    return path


def _at_least_one(text: str) -> int:
    """A whole number of 1 or more, for argparse."""
    return _whole_number(text, 1)


def _at_least_zero(text: str) -> int:
    """A whole number of 0 or more, for argparse."""
    return _whole_number(text, 0)


def _whole_number(text: str, minimum: int) -> int:
    try:
        number = int(text)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of at least {minimum} (got {text!r})"
        )
    return number


def _rejects_path(args: argparse.Namespace) -> Path:
    default = args.out.with_name(f"{args.out.stem}.rejects{args.out.suffix}")
    return Path(args.rejects or default)


def run_score(args: argparse.Namespace) -> int:
    """Score a creators file; print the counts (and the best rows with --show)."""
    if args.engine == "spark":
        return run_score_on_spark(args)
    if args.workers != 1:
        from recommender.engines import _forkserver

        _forkserver.start_for(args.creators)  # before the imports below: beside them
    from recommender.engines._memory import bounded_memory
    from recommender.engines.local import score_file

    if args.master:
        raise SettingError("--master is for --engine spark")
    args.out = args.out or Path("scored.csv")
    _say_how_inputs_are_read(args)
    bounded_memory()
    report = score_file(
        args.creators, args.campaign, args.out, _rejects_path(args), args.model, args.top,
        workers=args.workers, show=args.show, sheet=args.sheet, preloaded_workers=True,
    )  # fmt: skip
    if report.scored == 0:
        print("error: nothing could be scored; see the rejects file", file=sys.stderr)
        return 1
    if args.show:
        from recommender.scoring.explain import top_rows

        print(top_rows(report.best))
    return 0


def _say_how_inputs_are_read(args: argparse.Namespace) -> None:
    """Print which sheet of a workbook is read and what title rows are skipped; refuse, in
    one line, a sheet that does not hold the table."""
    from recommender.datasets.files import reading_notes

    for path, sheet, table in ((args.creators, args.sheet, "creators"),
                               (args.campaign, None, "campaigns")):  # fmt: skip
        for note in reading_notes(path, sheet, table):
            print(f"{path}: {note}")


def run_score_on_spark(args: argparse.Namespace) -> int:
    """Score on Spark: Parquet folders out (--out, default scored.parquet, and --rejects)."""
    from recommender.engines.spark import score_on_spark

    if args.workers or args.sheet:
        raise SettingError("--workers and --sheet are for the local engine")
    out = args.out or Path("scored.parquet")
    report = score_on_spark(args.creators, args.campaign, out, args.rejects, args.model,
                            args.master, args.top)  # fmt: skip
    if report.scored == 0:
        print("error: nothing could be scored; see the rejects folder", file=sys.stderr)
        return 1
    if args.show:
        from recommender.engines.spark import first_rows
        from recommender.scoring.explain import top_rows

        print(top_rows(first_rows(str(out), args.show, args.master)))
    return 0


def _add_plan(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser("plan", help="choose creators within a budget")
    _inputs(sub, "plan.csv")
    sub.add_argument("--budget", required=True, type=_budget, help="USD")
    sub.add_argument("--explore", type=float, default=0.0, help="share of budget for learning")
    sub.add_argument("--seed", type=int, help="exploration's draws (default: from the candidates)")
    rules = sub.add_argument_group("constraints (the campaign's platform always holds)")
    rules.add_argument("--target-country", help="hire only creators whose audience is there")
    rules.add_argument("--min-followers", type=float)
    rules.add_argument("--max-followers", type=float)
    rules.add_argument("--max-sponsorship", type=float, metavar="SHARE",
                       help="most sponsored share of recent posts")  # fmt: skip
    rules.add_argument("--max-niche-share", type=float, help="cap on any one niche's budget share")
    segment = "cap per audience segment (niche x audience country x tier)"
    rules.add_argument("--max-segment-share", type=float, help=segment)
    flagged = "also hire accounts flagged suspect_followers or high_sponsorship"
    rules.add_argument("--include-flagged", action="store_true", help=flagged)
    sub.set_defaults(run=run_plan)


def _budget(text: str) -> float:
    """An amount of USD above 0 and no larger than any column of the contract means, for
    argparse: a budget beyond that is a typo, not a campaign."""
    from recommender.contract import MAX_MAGNITUDE

    try:
        amount = float(text)
    except ValueError:
        amount = float("nan")
    if not 0 < amount <= MAX_MAGNITUDE:
        raise argparse.ArgumentTypeError(
            f"must be a positive amount of USD up to {MAX_MAGNITUDE:,.0f} (got {text!r})"
        )
    return amount


def run_plan(args: argparse.Namespace) -> int:
    """Plan, write the plan's files, print its summary; exit 1 when nobody could be hired."""
    from recommender.engines.local import plan_file
    from recommender.scoring.explain import left_out_text, plan_lines
    from recommender.scoring.planning import EXCLUDED_FLAGS, Constraints

    constraints = Constraints(
        target_country=args.target_country,
        min_followers=args.min_followers,
        max_followers=args.max_followers,
        max_sponsorship_ratio=args.max_sponsorship,
        excluded_flags=() if args.include_flagged else EXCLUDED_FLAGS,
        max_niche_share=args.max_niche_share,
        max_segment_share=args.max_segment_share,
    )
    rejects = _rejects_path(args)
    _say_how_inputs_are_read(args)
    result, files = plan_file(args.creators, args.campaign, args.budget, args.out, rejects,
                              args.model, args.explore, constraints, args.sheet,
                              seed=args.seed)  # fmt: skip
    summary = result.summary
    outputs = f"{files.chosen}, summary -> {files.summary}"
    if files.figure is not None:
        outputs += f", figure -> {files.figure.name}"
    print(f"plan for {summary['campaign_id'] or args.campaign}: {summary['creators']} creators "
          f"({summary['exploration_creators']} exploring) -> {outputs}")  # fmt: skip
    for line in plan_lines(summary):
        print(line)
    print(f"  {len(result.rejects):,} candidate rows rejected -> {files.rejects}")
    if summary["creators"]:
        return 0
    why = (
        "every row was rejected" if result.candidates.empty else left_out_text(summary["left_out"])
    )
    print(f"error: no candidate could be hired within the budget ({why or 'none fits'})",
          file=sys.stderr)  # fmt: skip
    return 1


# --- http ---------------------------------------------------------------------------


def _add_http(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser("http", help="serve POST /score, POST /plan and GET /health")
    sub.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only)",
    )
    sub.add_argument("--port", type=_port, default=8000,
                     help="port to listen on, 0 to 65535 (default 8000; 0: any free port, "
                     "the one bound is printed)")  # fmt: skip
    sub.add_argument("--model", help=MODEL_HELP)
    sub.add_argument("--workers", type=int, default=config.default_workers(),
                     help="scoring processes, each scoring one request at a time "
                     "(default: one per core, at most 8)")  # fmt: skip
    sub.add_argument("--api-key-file", type=Path,
                     help="require the key in this file with every request (default: "
                     "$CREATOR_RECOMMENDER_API_KEY if set, else no key)")  # fmt: skip
    sub.add_argument("--max-body-mb", type=_megabytes, default=8.0,
                     help="a larger request body gets a 413, unread (default 8)")  # fmt: skip
    sub.add_argument("--max-extra-keys", type=int, default=50,
                     help="distinct keys outside the creators contract a request may carry "
                     "(default 50)")  # fmt: skip
    sub.add_argument("--max-waiting", type=int, default=64,
                     help="requests that may wait for a scoring process; more get a 503 "
                     "with Retry-After (default 64)")  # fmt: skip
    sub.add_argument("--max-buffered-mb", type=_megabytes,
                     help="request bodies held at once, over all requests; more get a 503 "
                     "with Retry-After, unread (default: 8 times --max-body-mb)")  # fmt: skip
    sub.add_argument("--header-timeout", type=_seconds, default=10.0, metavar="SECONDS",
                     help="a client whose request line and headers take longer is cut off "
                     "(default 10)")  # fmt: skip
    sub.add_argument("--body-timeout", type=_seconds, default=60.0, metavar="SECONDS",
                     help="a client whose body takes longer after its headers gets a 408 and "
                     "is cut off (default 60)")  # fmt: skip
    sub.set_defaults(run=run_http)


def _port(text: str, lowest: int = 0) -> int:
    """A TCP port, `lowest` (0: any free one) to 65535, for argparse."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not lowest <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from {lowest} to 65535 (got {text!r})")
    return port


def _named_port(text: str) -> int:
    """A TCP port from 1 to 65535 (one a server's URL can name), for argparse."""
    return _port(text, lowest=1)


def _megabytes(text: str) -> float:
    """A size in MB: a positive, finite number, for argparse."""
    return _positive(text, "MB", 1e6)


def _seconds(text: str) -> float:
    """A time in seconds: a positive number of at most a day, for argparse."""
    return _positive(text, "seconds", 86_400)


def _positive(text: str, unit: str, most: float) -> float:
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if not 0 < number <= most:
        raise argparse.ArgumentTypeError(f"must be a positive number of {unit} (got {text!r})")
    return number


def run_http(args: argparse.Namespace) -> int:
    """Serve the scoring API until stopped."""
    import ipaddress

    from recommender.mlops.model_store import model_identity
    from recommender.serving import ServiceSettings, create_app, listening_socket, serve

    settings = ServiceSettings(
        model=args.model,
        api_key_file=str(args.api_key_file) if args.api_key_file else None,
        max_body_bytes=int(args.max_body_mb * 2**20),
        max_extra_keys=args.max_extra_keys,
        workers=args.workers,
        max_waiting=args.max_waiting,
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        max_buffered_bytes=int(args.max_buffered_mb * 2**20) if args.max_buffered_mb else None,
    )
    app = create_app(settings)  # a missing model or an unusable API key: one line
    keyed = app.state.api_key is not None  # (the key file read once, by create_app)
    sock = listening_socket(args.host, args.port)  # a port in use: one line, before any claim
    port = sock.getsockname()[1]  # the one bound, when --port 0 asked for any
    address = f"[{args.host}]" if ":" in args.host else args.host
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:  # a name
        loopback = args.host == "localhost"
    if not keyed and not loopback:
        print(f"warning: anyone who can reach {address}:{port} can score and plan; "
              "--api-key-file (or CREATOR_RECOMMENDER_API_KEY) requires a key",
              file=sys.stderr)  # fmt: skip
    guarded = "an API key required" if keyed else "no API key required"
    print(f"serving {model_identity(args.model).text()} on http://{address}:{port} "
          f"with {args.workers} scoring process(es), {guarded} (Ctrl-C stops it)",
          flush=True)  # fmt: skip
    serve(app, sock)
    return 0


# --- feedback and real --------------------------------------------------------------


def _add_feedback(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser("feedback", help="add new campaign outcomes to a training folder")
    sub.add_argument("--data", required=True, type=Path,
                     help="training folder (creators, campaigns, outcomes)")  # fmt: skip
    sub.add_argument("--new", required=True, type=_file_path, help="new outcomes file")
    sub.add_argument("--rejects", type=_file_path,
                     help="where refused rows go (default: beside --new)")  # fmt: skip
    sub.set_defaults(run=run_feedback)


def run_feedback(args: argparse.Namespace) -> int:
    """Append new outcomes once each; exit 1 when none was added."""
    from recommender.datasets.feedback import add_outcome_file

    rejects = args.rejects or args.new.with_name(f"{args.new.stem}.rejects.csv")
    result, outcomes = add_outcome_file(args.data, args.new, rejects, waiting=lambda: print(
        f"waiting for another feedback run on {args.data} to finish", file=sys.stderr))  # fmt: skip
    print(f"added {result.added:,} outcome rows to {outcomes}; "
          f"{len(result.rejects):,} refused -> {rejects}")  # fmt: skip
    return 0 if result.added else 1


def _add_real(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser("real", help="turn the research dataset of real creators into a "
                              "creators file")  # fmt: skip
    sub.add_argument("--src", type=Path, help="folder with influencers.tsv and posts.csv.gz "
                     "(default data/external/instagram)")  # fmt: skip
    sub.add_argument("--out", type=Path, default=Path("data/real/creators.parquet"))
    sub.set_defaults(run=run_real)


def run_real(args: argparse.Namespace) -> int:
    """Write the real creators in the creators contract."""
    from recommender.datasets.real import load_real_creators
    from recommender.io import write_table

    creators = load_real_creators(args.src)
    write_table(creators, args.out)
    no_posts = int(creators["avg_likes"].isna().sum())
    print(f"wrote {len(creators):,} real creators to {args.out} "
          f"({no_posts:,} have no post in the sample, so no likes to average)")  # fmt: skip
    return 0


# --- champion and tracking-server ----------------------------------------------------


def _add_champion(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser("champion", help="show the champion and its promotion history, "
                              "or set it by hand")  # fmt: skip
    moved = "make this registered version the champion (a rollback, or forward again)"
    sub.add_argument("--set", metavar="VERSION", help=moved)
    sub.set_defaults(run=run_champion)


def run_champion(args: argparse.Namespace) -> int:
    """Print the champion and its history; with --set, move it first (recorded as by hand)."""
    from recommender.mlops.champion import champion_status, set_champion

    if args.set is not None:
        version = args.set.strip()
        previous = set_champion(version)
        if previous == version:
            print(f"version {version} is champion already")
        else:
            was = f"version {previous}" if previous else "none"
            print(f"version {version} is champion now, set by hand (was {was})")
    status = champion_status()
    for line in champion_lines(status):
        print(line)
    return 0


def champion_lines(status: ChampionStatus) -> list[str]:
    """A ChampionStatus for people: the champion, what is served, the history."""
    import pandas as pd

    name = config.MODEL_NAME
    if status.version is None:
        lines = [f"no champion yet in {status.tracking_uri}: train one with `{PROG} train`"]
    else:
        lines = [f"champion: {name} version {status.version} ({status.tracking_uri})"]
    lines.append(f"served by default: {status.served}")
    if status.folder is not None and status.version not in (None, status.folder_version):
        lines.append(
            f"warning: the champion folder {status.folder} holds "
            f"{f'version {status.folder_version}' if status.folder_version else 'no model'}; "
            f"`{PROG} champion --set {status.version}` puts the champion there"
        )
    if not status.history:
        return lines
    rows = [
        {
            "#": event["number"],
            "version": event["version"],
            "when (UTC)": str(event["at"]).replace("T", " ").removesuffix("+00:00"),
            "by": event["by"],
            "metric": _judged(event),
            "previous": event["previous"] or "-",
            "data": event.get("data_fingerprint") or "-",
        }
        for event in status.history
    ]
    lines.append("promotions, oldest first:")
    lines.append(pd.DataFrame(rows).to_string(index=False))
    return lines


def _judged(event: dict[str, Any]) -> str:
    """The evidence a promotion was decided on, short: its improvements and campaigns."""
    if event["by"] == "hand":
        return "set by hand"
    record = event.get("evidence")
    if isinstance(record, dict):  # since the gate weighs evidence
        parts, campaigns = [], 0
        for name, label in (("versus_champion", "champion"), ("versus_best_baseline", "baseline")):
            c = record.get(name)
            if isinstance(c, dict) and c.get("campaigns"):
                parts.append(f"{c['estimate']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}] vs {label}")
                campaigns = max(campaigns, int(c["campaigns"]))
        if parts:
            return f"{', '.join(parts)} on {campaigns} campaigns"
    if event.get("value") is None:  # an older promotion
        return "-"
    text = f"{event['metric']} {event['value']:.4f}"
    if event.get("previous_value") is not None:
        text += f" > {event['previous_value']:.4f}"
    return text


def _add_tracking_server(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser("tracking-server", help="start a PostgreSQL-backed MLflow tracking "
                              "server on this machine (to try a team's set-up)")  # fmt: skip
    where = "where the database and the artifacts live (default tracking/)"
    sub.add_argument("--folder", type=Path, default=Path("tracking"), help=where)
    sub.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to let a team reach it")
    sub.add_argument("--port", type=_named_port, default=5000, help="1 to 65535 (default 5000)")
    sub.set_defaults(run=run_tracking_server)


def run_tracking_server(args: argparse.Namespace) -> int:
    """Run PostgreSQL and an MLflow server until Ctrl-C (or SIGTERM), then stop both; when
    either stops answering, stop the other and fail in one line naming it."""
    import signal

    from recommender.mlops.tracking_server import running_server

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # a service manager's stop: both go down cleanly
    print(f"starting PostgreSQL and MLflow for {args.folder} (the first start takes a while)")
    try:
        with running_server(args.folder, args.host, args.port) as server:
            print(f"tracking server at {server.url}; artifacts in {args.folder / 'artifacts'}")
            print(f"use it with: export MLFLOW_TRACKING_URI={server.url}")
            print("Ctrl-C stops it", flush=True)
            stopped = server.wait_until_stopped()
    except KeyboardInterrupt:
        print("stopped")
        return 0
    raise SettingError(f"{stopped}; the tracking server is stopped")


if __name__ == "__main__":
    sys.exit(main())
