// Runs the real kinerjad for the browser tests — not yet: the daemon's live feed does
// not exist at the time of writing. The dashboard tests call these functions once it
// does (see README.md, "Real-daemon tests"); until then they throw, and the tests that
// need them are marked todo.
//
// Planned shape:
//   const d = await startDaemon({ units, indicators, auth, tokens });
//     writes a configuration (listen 127.0.0.1:<free port>, state_dir = a temp dir,
//     web_root = <repo>/web, sync: periodic for speed) and starts $KJ_BUILD/kinerjad -c
//     FILE, waiting for GET /healthz; returns { url, port, stateDir, config, proc }.
//   await postEvents(d, events, token)   POST /api/v1/events (JSON), checks "accepted"
//   await stopDaemon(d)                   SIGTERM, waits for exit status 0
//   await restartDaemon(d)                stop, then start again on the same port and
//                                         state_dir (the page must reconnect by itself)

import { join, resolve } from 'node:path';
import { REPO } from './harness.mjs';

// `make check-browser` passes KJ_BUILD relative to tests/browser (the cwd of node --test).
export const KINERJAD = process.env.KJ_BUILD
  ? resolve(process.env.KJ_BUILD, 'kinerjad')
  : join(REPO, 'build', 'kinerjad');

const NOT_YET = 'not yet: kinerjad has no live feed to test against (see tests/browser/README.md)';

export async function startDaemon(/* { units, indicators, auth, tokens } */) {
  throw new Error(NOT_YET);
}

export async function postEvents(/* daemon, events, token */) {
  throw new Error(NOT_YET);
}

export async function stopDaemon(/* daemon */) {
  throw new Error(NOT_YET);
}

export async function restartDaemon(/* daemon */) {
  throw new Error(NOT_YET);
}
