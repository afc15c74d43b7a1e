"""``resilience keys create|list|revoke``: the API keys people and utilities act with.

A new key is printed once, on stdout alone (so ``KEY=$(resilience keys create ...)`` works); only its
SHA-256 is stored.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta

from resilience.store import api_keys
from resilience.store.db import database_label, make_engine
from resilience.core.settings import get_settings


def _cmd(args: argparse.Namespace) -> int:
    engine = make_engine(get_settings().database_url)
    try:
        with engine.begin() as conn:
            if args.action == "create":
                if not args.name:
                    print("keys create needs --name (who or what will hold the key)", file=sys.stderr)
                    return 2
                expires = datetime.now(UTC) + timedelta(days=args.expires_days) if args.expires_days else None
                try:
                    record, key = api_keys.create_key(
                        conn, name=args.name, role=args.role, utility_id=args.utility, expires_at=expires
                    )
                except api_keys.KeyError_ as exc:
                    print(f"refused: {exc}", file=sys.stderr)
                    return 2
                print(
                    f"created key {record.id} ({record.role}) for {record.name} in database {database_label()}; "
                    "shown once:",
                    file=sys.stderr,
                )
                print(key)
            elif args.action == "list":
                for row in api_keys.list_keys(conn):
                    print(json.dumps(row, default=str))
            else:
                if not args.key_id:
                    print("keys revoke needs the key id", file=sys.stderr)
                    return 2
                if not api_keys.revoke(conn, args.key_id):
                    print(f"no live key {args.key_id}", file=sys.stderr)
                    return 1
                print(f"revoked {args.key_id}", file=sys.stderr)
    finally:
        engine.dispose()
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("keys", help="API keys: create (shown once), list, revoke")
    p.add_argument("action", choices=["create", "list", "revoke"])
    p.add_argument("key_id", nargs="?", help="revoke: the key's id (rk_<id>_...)")
    p.add_argument("--name", help="create: who or what holds the key (named in the audit trail)")
    p.add_argument("--role", choices=list(api_keys.ROLES), default="viewer")
    p.add_argument("--utility", help="create: the utility a utility key speaks for")
    p.add_argument("--expires-days", type=float, default=None, help="create: expire after this many days")
    p.set_defaults(func=_cmd)
