from graphfix.cli import entry

entry()
