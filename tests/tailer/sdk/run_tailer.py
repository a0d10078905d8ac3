"""Run the real `tailer` CLI (tailer-sdk 1.3.19) with exactly the three shims of contract §3.2;
every request to the Tailer APIs is the unmodified SDK's.

Run with the SDK's own interpreter (the separate venv built from `requirements.txt`):

    <venv>/bin/python run_tailer.py deploy configuration x.json --context NO_CONTEXT --no-launch

1. `firebase.Auth.refresh` sends the identical F1 request to `$TAILER_SECURETOKEN_URL` (the
   sandbox), because the firebase package hard-codes https://securetoken.googleapis.com.
2. `tailersdk.notify_update_tailer_sdk` is a no-op (it would query PyPI after every command).
3. `chardet.universaldetector` is imported first: tailer-sdk's unbounded `chardet` requirement
   resolves to a chardet whose package no longer imports it, and every deploy would fail.

`encrypt <payload>` is not a tailer command: it prints `tailer_crypto.encrypt_payload`'s sealed
JSON (the SDK's own code, with `$TAILER_HOME/tailer_public_key.pem`), for the tests to deploy.
"""

from __future__ import annotations

import json
import os
import sys

import chardet.universaldetector  # noqa: F401  (shim 3)
import firebase
import requests
from firebase import raise_detailed_error


def _refresh(self, refresh_token):  # shim 1: firebase 3.0.1's Auth.refresh, another URL
    request_ref = "{}?key={}".format(os.environ["TAILER_SECURETOKEN_URL"], self.api_key)
    headers = {"content-type": "application/json; charset=UTF-8"}
    data = json.dumps({"grantType": "refresh_token", "refreshToken": refresh_token})
    request_object = requests.post(request_ref, headers=headers, data=data)
    raise_detailed_error(request_object)
    request_object_json = request_object.json()
    return {
        "userId": request_object_json["user_id"],
        "idToken": request_object_json["id_token"],
        "refreshToken": request_object_json["refresh_token"],
    }


firebase.Auth.refresh = _refresh

from tailer_sdk import tailer_crypto, tailersdk  # noqa: E402

tailersdk.notify_update_tailer_sdk = lambda: None  # shim 2

if __name__ == "__main__":
    if sys.argv[1:2] == ["encrypt"]:
        tailer_crypto.encrypt_payload(sys.argv[2])
        sys.exit(0)
    sys.argv = ["tailer", *sys.argv[1:]]
    sys.exit(tailersdk.main())
