"""Recognising the database's unique-constraint refusals, so racing creators re-read instead of failing."""

from __future__ import annotations

import sqlite3

import asyncpg

UNIQUE_VIOLATIONS: tuple[type[Exception], ...] = (asyncpg.UniqueViolationError, sqlite3.IntegrityError)
