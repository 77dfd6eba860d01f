"""``kafkasim inspect``: a data directory read without a broker."""

from __future__ import annotations

import sys

import click

from kafkasim.cli._base import _ms, _show, main


@main.command()
@click.option("--data-dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="The broker's data directory (read only; the broker may be running).")
@click.argument("topic", required=False)
@click.argument("partition", required=False, type=click.IntRange(0))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0), help="First offset to decode.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(0),
              help="Most records to decode (0: none, segments only).")
@click.option("--no-crc", is_flag=True, help="Skip the CRC32C check of each batch (faster on large logs).")
def inspect(data_dir: str, topic: str | None, partition: int | None, offset: int, limit: int, no_crc: bool) -> None:
    """Show a data directory without a broker: partitions; a topic's segments; a partition's records.

    Damaged files are reported with the position and reason where reading stopped, never repaired.
    """
    from kafkasim.storage import inspection as ins

    parts = ins.partitions(data_dir)
    click.echo(f"data dir {data_dir}: {'clean' if ins.clean_shutdown(data_dir) else 'unclean (or running)'} shutdown")
    if topic is None:
        click.echo(f"{'PARTITION':40} {'SEGMENTS':>8} {'START':>10} {'END':>10} {'BYTES':>12}  PROBLEMS")
        for pd in parts:
            segs = ins.segments(pd.path, not no_crc)
            batches = [b for s in segs for b in s.batches]
            start = max(ins.log_start_offset(pd.path) or 0, batches[0].base_offset if batches else 0)
            end = batches[-1].last_offset + 1 if batches else (segs[-1].base_offset if segs else 0)
            problems = sum(1 for s in segs if s.problem)
            click.echo(f"{pd.topic + '-' + str(pd.partition):40} {len(segs):>8} {start:>10} {end:>10} "
                       f"{sum(s.size for s in segs):>12}  {problems or ''}")
        return
    chosen = [pd for pd in parts if pd.topic == topic and (partition is None or pd.partition == partition)]
    if not chosen:
        raise click.ClickException(f"no partition directory for {topic}" +
                                   ("" if partition is None else f"-{partition}") + f" in {data_dir}")
    failed = False
    for pd in chosen:
        segs = ins.segments(pd.path, not no_crc)
        start = ins.log_start_offset(pd.path)
        click.echo(f"{pd.topic}-{pd.partition}" + (f" (log start offset {start})" if start is not None else ""))
        for s in segs:
            last = s.batches[-1].last_offset if s.batches else None
            click.echo(f"  segment {s.path.name}: {s.size} bytes, {len(s.batches)} batches, offsets "
                       f"{s.base_offset}-{'' if last is None else last}, index {s.index_entries} entries, "
                       f"time index {s.time_index_entries} entries, max timestamp "
                       f"{_ms(max((b.max_timestamp for b in s.batches), default=-1))}")
            if s.problem:
                failed = True
                click.echo(f"    DAMAGED at byte {s.good_bytes}: {s.problem} ({s.size - s.good_bytes} bytes after it "
                           "are not readable)")
        if partition is None or limit == 0:
            continue
        shown = 0
        for s in segs:
            if shown >= limit:
                break
            for b, rec in ins.records(s, offset):
                flags = ",".join(f for f, on in (("txn", b.transactional), ("control", b.control)) if on)
                producer = f" producer={b.producer_id}/{b.producer_epoch} seq={b.base_sequence + rec.offset - b.base_offset}" \
                    if b.producer_id >= 0 else ""
                headers = " ".join(f"{k}={_show(v)}" for k, v in rec.headers)
                click.echo(f"  offset={rec.offset} timestamp={_ms(rec.timestamp)}{producer}"
                           f"{' [' + flags + ']' if flags else ''} key={_show(rec.key)} value={_show(rec.value)}"
                           + (f" headers: {headers}" if headers else ""))
                shown += 1
                if shown >= limit:
                    break
    if failed:
        sys.exit(1)


# ---------------------------------------------------------------------------------------------------------
# Test controls over the HTTP control API (kafkasim serve --control-port N): faults, clock, records, waits,
# brokers and leaders. The requests go through kafkasim.control.client (urllib; no aiohttp).
