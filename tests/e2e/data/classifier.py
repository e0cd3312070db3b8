#!/usr/bin/python3
"""A stand-in for a real model behind SOTTO_MODERATION_CMD (docs/moderation.md,
"Automatic moderation"): JSON lines in, JSON lines out.

    classifier.py IDS_FILE STARTS_FILE

Appends each post id it reads to IDS_FILE (one per line) and its own PID
to STARTS_FILE when it starts, so tests can see what it was asked and how
often it was restarted. Answers by the text:
  EXT-HANG     never answers (sleeps)
  EXT-CRASH    exits without answering
  EXT-GARBAGE  answers a line that is not JSON
  EXT-WRONGID  answers for another id
  EXT-SPAM     {"score": 0.97}
  EXT-WAIT-<tag>  {"score": 0.97}, once a file named <tag> exists beside
               IDS_FILE (a test decides when: the moderator's batch stays
               open until then)
  anything else {"score": 0.123} (a value the built-in rules never give)
"""
import json
import os
import re
import sys
import time


def append(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


def main():
    ids_file, starts_file = sys.argv[1], sys.argv[2]
    append(starts_file, str(os.getpid()))
    for line in sys.stdin:
        req = json.loads(line)
        append(ids_file, req["id"])
        text = req["text"]
        if "EXT-HANG" in text:
            time.sleep(3600)
        wait = re.search(r"EXT-WAIT-([A-Za-z0-9]+)", text)
        if wait:
            flag = os.path.join(os.path.dirname(ids_file), wait.group(1))
            while not os.path.exists(flag):
                time.sleep(0.01)
        if "EXT-CRASH" in text:
            sys.exit(3)
        if "EXT-GARBAGE" in text:
            out = "this is not json"
        elif "EXT-WRONGID" in text:
            out = json.dumps({"id": "A" * 22, "score": 0.5})
        else:
            score = 0.97 if "EXT-SPAM" in text or wait else 0.123
            out = json.dumps({"id": req["id"], "score": score, "model": "test"})
        sys.stdout.write(out + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
