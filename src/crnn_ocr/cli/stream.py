"""``crnn-ocr stream``: print each text line of a video (a file, or y4m frames on stdin) once, when
it is first confirmed (``crnn_ocr.stream``)."""

from __future__ import annotations

import argparse
import json
import sys

from crnn_ocr.cli.model import add_model_arguments, load_ocr
from crnn_ocr.cli.options import (
    add_decode_arguments,
    add_detector_arguments,
    add_preprocess_arguments,
    ocr_options,
    positive_int,
)
from crnn_ocr.errors import OCRError


def add_stream_parser(subparsers: argparse._SubParsersAction) -> None:
    st = subparsers.add_parser(
        "stream", help="print the lines of a video as they appear (subtitles of a screen recording)",
        description="Read a video file (any format OpenCV decodes), or raw frames on stdin as a y4m "
        "stream (`ffmpeg -i IN -f yuv4mpegpipe -pix_fmt yuv420p -`), and print each text line once, "
        "when it has been seen in --confirm-frames frames. Frames that did not change are not read "
        "again. From stdin, frames arriving while one is being read are dropped (a live source) "
        "unless --no-drop.",
    )
    st.add_argument("source", metavar="VIDEO|-", help="a video file, or - for a y4m stream on stdin")
    st.add_argument("--format", choices=("text", "jsonl"), default="text",
                    help="text (a line per new line) or jsonl (id, text, confidence, box, frame_id, time_ms)")
    st.add_argument("--fps", type=float, default=2.0, metavar="N",
                    help="read at most N frames per second of video time (default 2; 0: every frame)")
    st.add_argument("--confirm-frames", type=positive_int, default=2, metavar="N",
                    help="frames a line must be seen in before it is printed (default 2)")
    st.add_argument("--no-drop", action="store_true", help="stdin: read every frame, never drop one")
    add_decode_arguments(st)
    add_detector_arguments(st)
    add_preprocess_arguments(st)
    add_model_arguments(st)
    st.set_defaults(func=cmd_stream)


def cmd_stream(args: argparse.Namespace) -> int:
    """Print each line of a video (file or y4m on stdin) once, when it is first confirmed."""
    from crnn_ocr.stream import StreamConfig, StreamSession, follow, read_every
    from crnn_ocr.video import sampled, video_file_frames
    from crnn_ocr.y4m import read_frames

    options = ocr_options(args, detect=True)
    ocr = load_ocr(args, options)
    if isinstance(ocr, int):
        return ocr
    session = StreamSession(ocr, options, StreamConfig(confirm_frames=args.confirm_frames))
    if args.source == "-":
        frames = sampled(read_frames(sys.stdin.buffer, ocr.max_pixels), args.fps)
        results = read_every(session, frames) if args.no_drop else follow(session, frames)
    else:
        results = read_every(session, sampled(video_file_frames(args.source), args.fps))
    try:
        for result in results:
            for line in result.new_lines:
                if args.format == "jsonl":
                    row = {"id": line.id, "text": line.text, "confidence": round(line.confidence, 4),
                           "box": line.box.to_list(), "frame_id": result.frame_id, "time_ms": round(result.timestamp, 1)}
                    print(json.dumps(row, ensure_ascii=False), flush=True)
                else:
                    print(line.text, flush=True)
    except OCRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stats = session.stats()
    print(f"{stats.processed} frames read, {stats.skipped} unchanged, {stats.dropped} dropped; "
          f"{len(session.transcript)} lines", file=sys.stderr)
    return 0
