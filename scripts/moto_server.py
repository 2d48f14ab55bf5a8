"""The emulator (moto_server) with its DynamoDB requests serialized.

moto applies a DynamoDB transaction to a snapshot of the table and, when the transaction is
cancelled, restores that snapshot: under concurrent requests this throws away what other writers
stored meanwhile. DynamoDB itself applies a transaction atomically. Handling one DynamoDB request
at a time gives the emulator the same guarantee (the other services stay concurrent).

    python scripts/moto_server.py -H 127.0.0.1 -p 5055
"""
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_DYNAMODB = threading.RLock()
_call_action = DynamoHandler.call_action


def _serialized(self):
    with _DYNAMODB:
        return _call_action(self)


DynamoHandler.call_action = _serialized

if __name__ == "__main__":
    main()
