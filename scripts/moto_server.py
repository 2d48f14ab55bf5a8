"""The emulator (moto_server), made to keep two promises of AWS that rollgate relies on.

DynamoDB: moto applies a transaction to a snapshot of the table and, when the transaction is
cancelled, restores that snapshot: under concurrent requests this throws away what other writers
stored meanwhile. DynamoDB itself applies a transaction atomically. Handling one DynamoDB request
at a time gives the emulator the same guarantee (the other services stay concurrent).

Lambda: an alias's RevisionId changes with every update, and UpdateAlias with a RevisionId that
is no longer the alias's fails with PreconditionFailedException (412), as Lambda documents; moto
keeps the first RevisionId forever and ignores the parameter. rollgate fences its router writes
with it.

    python scripts/moto_server.py -H 127.0.0.1 -p 5055
"""
import json
import threading
import uuid
from urllib.parse import unquote

from moto.awslambda.exceptions import PreconditionFailedException
from moto.awslambda.models import LambdaAlias
from moto.awslambda.responses import LambdaResponse
from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_DYNAMODB = threading.RLock()
_call_action = DynamoHandler.call_action


def _serialized(self):
    with _DYNAMODB:
        return _call_action(self)


DynamoHandler.call_action = _serialized

_ALIASES = threading.Lock()
_update = LambdaAlias.update
_update_alias = LambdaResponse.update_alias


def _update_with_new_revision(self, *args, **kwargs):
    _update(self, *args, **kwargs)
    self.revision_id = str(uuid.uuid4())


def _update_alias_if_revision(self):
    expected = json.loads(self.body or "{}").get("RevisionId")
    with _ALIASES:  # the check and the update as one step
        if expected is not None:
            function_name = unquote(self.path.rsplit("/")[-3])
            alias_name = unquote(self.path.rsplit("/", 2)[-1])
            alias = self.backend.get_alias(alias_name, function_name)
            if alias.revision_id != expected:
                raise PreconditionFailedException(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetAlias API to retrieve the latest Revision Id"
                )
        return _update_alias(self)


LambdaAlias.update = _update_with_new_revision
LambdaResponse.update_alias = _update_alias_if_revision

if __name__ == "__main__":
    main()
