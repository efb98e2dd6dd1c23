"""Write and read load for the failure tests (test_two_nodes.py, test_pg_outage.py).

Workers send raw signed requests (rawkms), which are never retried, so every answer the
server gave is recorded as it was: status, Code, how long it took, or the connection error.
A disruption (a node killed, PostgreSQL stopped) runs beside them; afterwards every write
that was answered 200 must still be there with its exact value.
"""
import collections
import http.client
import threading
import time
import uuid

import kms_support as ks
from test_concurrency import run_all, versions

# With the version CreateSecret makes, 9 puts stay within the 10 versions a secret keeps, so
# no acknowledged version is pruned by a later write.
PUTS_PER_SECRET = 9
# Between two requests of one worker: keeps the number of writes to check small.
PAUSE = 0.05
WRITES = ("CreateSecret", "PutSecretValue")


class Answer(collections.namedtuple("Answer", "node action secret version value started ended resp error")):
    """One request: `resp` is the RawResponse, or None with `error` when no answer came."""

    @property
    def ok(self):
        return self.resp is not None and self.resp.status == 200

    @property
    def seconds(self):
        return self.ended - self.started

    def describe(self):
        if self.resp is None:
            return "%s %s: no answer (%r)" % (self.node, self.action, self.error)
        code = "" if self.ok else " " + str(_code(self.resp))
        return "%s %s: %s%s after %.2fs" % (self.node, self.action, self.resp.status, code, self.seconds)


def _code(resp):
    try:
        return resp.json().get("Code")
    except AssertionError:
        return repr(resp.body[:200])


class Load:
    def __init__(self):
        self.stop = threading.Event()
        self.answers = []
        self._lock = threading.Lock()

    def send(self, node, raw, action, secret, version=None):
        """One request through `raw` (a RawKms), recorded under the label `node`."""
        params = {"SecretName": secret}
        value = None
        if action in WRITES:
            value = uuid.uuid4().hex
            params.update(VersionId=version, SecretData=value)
        started = time.monotonic()
        resp = error = None
        try:
            resp = raw.v3(action, params)
        except (OSError, http.client.HTTPException) as exc:
            error = exc
        answer = Answer(node, action, secret, version, value, started, time.monotonic(), resp, error)
        with self._lock:
            self.answers.append(answer)
        return answer

    def writer(self, label, node, pause=PAUSE):
        """CreateSecret, then PutSecretValue with new VersionIds; a new secret every 9 puts."""
        raw = node.raw()

        def run():
            secret, puts = None, PUTS_PER_SECRET
            while not self.stop.is_set():
                if puts == PUTS_PER_SECRET:
                    # A create that got no 200 may still have committed: its name is not reused.
                    name = ks.unique("load")
                    if self.send(label, raw, "CreateSecret", name, "v1").ok:
                        secret, puts = name, 0
                else:
                    puts += 1
                    self.send(label, raw, "PutSecretValue", secret, "p%d" % puts)
                time.sleep(pause)
        return run

    def reader(self, label, node, secret):
        raw = node.raw()

        def run():
            while not self.stop.is_set():
                self.send(label, raw, "GetSecretValue", secret)
                time.sleep(PAUSE)
        return run

    def run(self, workers, disruption):
        """Runs the workers until `disruption` returns; returns what it returned."""
        def disrupt():
            try:
                return disruption()
            finally:
                self.stop.set()
        results = run_all(workers + [disrupt])
        if results[-1][0] == "err":
            raise results[-1][1]
        assert all(r is not None and r[0] == "ok" for r in results[:-1]), results
        return results[-1][1]

    # -- what happened --------------------------------------------------------------------

    def of(self, node):
        return [a for a in self.answers if a.node == node]

    def summary(self, answers=None):
        counts = collections.Counter(
            (a.node, a.action, a.resp.status if a.resp else type(a.error).__name__,
             None if a.ok or a.resp is None else _code(a.resp))
            for a in (self.answers if answers is None else answers))
        return "\n".join("%s x%d" % (k, n) for k, n in sorted(counts.items(), key=str))

    def acknowledged(self):
        return [a for a in self.answers if a.action in WRITES and a.ok]

    def assert_acknowledged_writes_readable(self, client):
        """Every write answered 200 is listed and reads back its value; returns how many."""
        wanted = collections.defaultdict(dict)
        for a in self.acknowledged():
            wanted[a.secret][a.version] = a.value
        for name, values in wanted.items():
            listed = {v["VersionId"] for v in versions(client, name)}
            assert set(values) <= listed, "acknowledged versions of %s missing: %s" % (
                name, sorted(set(values) - listed))
            for version, value in values.items():
                body = ks.body_map(ks.get_secret_value(client, name, version_id=version))
                assert body["SecretData"] == value, (name, version)
        return sum(len(v) for v in wanted.values())
