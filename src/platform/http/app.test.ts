import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { setTimeout } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { loadConfig } from '../config.ts';
import { createLogger } from '../log.ts';
import { WardError } from '../errors.ts';
import { buildApp } from './app.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/db.ts';

// A test module with a JSON route, to exercise the platform's body handling and errors.
const echoModule: FastifyPluginAsync = async (app) => {
  app.post(
    '/echo',
    {
      schema: {
        body: {
          type: 'object',
          properties: { name: { type: 'string', maxLength: 20 } },
          required: ['name'],
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: { name: { type: 'string' } },
            additionalProperties: false,
          },
        },
      },
    },
    async (req) => ({ ...(req.body as { name: string }), secret: 'never serialized' }),
  );
  app.get('/boom', async () => {
    throw new Error('driver said: value 123-45-6789 is invalid');
  });
  app.get('/conflict', async () => {
    throw new WardError('conflict', 'Already in review');
  });
};

describe('HTTP platform', () => {
  let t: TestDatabase;
  let app: FastifyInstance;
  const logLines: string[] = [];

  before(async () => {
    t = await createTestDatabase();
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        logLines.push(chunk.toString());
        cb();
      },
    });
    app = await buildApp({
      db: t.db,
      logger: createLogger('info', sink),
      modules: [echoModule],
      bodyLimit: 1024,
      // inject's default peer is 127.0.0.1: it stands for the proxy that may name request ids.
      trustProxy: ['127.0.0.1'],
    });
  });
  after(async () => {
    await app.close();
    await t.close();
  });

  test('healthz and readyz answer; readyz checks the database', async () => {
    assert.equal((await app.inject('/healthz')).json<{ status: string }>().status, 'ok');
    const ready = await app.inject('/readyz');
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.json<{ status: string }>().status, 'ready');
  });

  test("request ids are generated, or taken from a trusted proxy's well-formed header, and echoed", async () => {
    const gen = await app.inject('/healthz');
    assert.match(String(gen.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    // This app trusts 127.0.0.1 (inject's default peer) as its proxy.
    const given = await app.inject({
      url: '/healthz',
      headers: { 'x-request-id': 'client-req-0001' },
    });
    assert.equal(given.headers['x-request-id'], 'client-req-0001');
    const hostile = await app.inject({
      url: '/healthz',
      headers: { 'x-request-id': 'bad id\nwith newline' },
    });
    assert.notEqual(hostile.headers['x-request-id'], 'bad id\nwith newline');
    const tooLong = await app.inject({
      url: '/healthz',
      headers: { 'x-request-id': 'a'.repeat(129) },
    });
    assert.match(String(tooLong.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  test('a client that is not a trusted proxy cannot choose its request id', async () => {
    logLines.length = 0;
    // Another request's id, replayed by a direct client to blur the audit trail and logs.
    const r = await app.inject({
      url: '/healthz',
      remoteAddress: '192.0.2.10',
      headers: { 'x-request-id': 'client-req-0001' },
    });
    const id = String(r.headers['x-request-id']);
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.ok(!logLines.join('').includes('client-req-0001'), 'the log carries the server id');
    assert.match(logLines.join(''), new RegExp(id));
    for (const remoteAddress of ['::ffff:127.0.0.1', '::1']) {
      const mapped = await app.inject({
        url: '/healthz',
        remoteAddress,
        headers: { 'x-request-id': 'client-req-0002' },
      });
      assert.equal(
        mapped.headers['x-request-id'] === 'client-req-0002',
        remoteAddress === '::ffff:127.0.0.1',
        remoteAddress,
      );
    }
    // No trusted proxy at all: every id is generated.
    const plain = await buildApp({ db: t.db, logger: createLogger('silent'), metrics: false });
    try {
      const p = await plain.inject({
        url: '/healthz',
        headers: { 'x-request-id': 'client-req-0003' },
      });
      assert.match(String(p.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    } finally {
      await plain.close();
    }
  });

  test('security headers are set on every response', async () => {
    const r = await app.inject('/healthz');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.headers['x-frame-options'], 'DENY');
  });

  test('unknown routes are problem+json 404', async () => {
    const r = await app.inject('/api/v1/nothing-here');
    assert.equal(r.statusCode, 404);
    assert.match(String(r.headers['content-type']), /application\/problem\+json/);
    const p = r.json<{ code: string; status: number; type: string }>();
    assert.equal(p.code, 'not_found');
    assert.equal(p.type, 'urn:ward:problem:not_found');
  });

  test('bad bodies get stable 4xx problems', async () => {
    const badJson = await app.inject({
      method: 'POST',
      url: '/api/v1/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":',
    });
    assert.equal(badJson.statusCode, 400);
    assert.equal(badJson.json<{ code: string }>().code, 'bad_request');
    const unknownField = await app.inject({
      method: 'POST',
      url: '/api/v1/echo',
      payload: { name: 'a', extra: 1 },
    });
    assert.equal(unknownField.statusCode, 400);
    assert.equal(unknownField.json<{ code: string }>().code, 'validation_failed');
    const tooBig = await app.inject({
      method: 'POST',
      url: '/api/v1/echo',
      payload: { name: 'x'.repeat(5000) },
    });
    assert.equal(tooBig.statusCode, 413);
    assert.equal(tooBig.json<{ code: string }>().code, 'payload_too_large');
    const proto = await app.inject({
      method: 'POST',
      url: '/api/v1/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":"a","__proto__":{"x":1}}',
    });
    assert.equal(proto.statusCode, 400);
    const wrongType = await app.inject({
      method: 'POST',
      url: '/api/v1/echo',
      headers: { 'content-type': 'text/plain' },
      payload: 'name',
    });
    assert.equal(wrongType.statusCode, 415);
  });

  test('response schemas drop undeclared fields', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/v1/echo', payload: { name: 'ok' } });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), { name: 'ok' });
  });

  test('unexpected errors are opaque 500s and their messages never reach the logs', async () => {
    const r = await app.inject('/api/v1/boom');
    assert.equal(r.statusCode, 500);
    assert.equal(r.json<{ code: string }>().code, 'internal');
    assert.ok(!r.body.includes('123-45-6789'));
    assert.ok(
      !logLines.join('').includes('123-45-6789'),
      'log lines must not carry error messages',
    );
    const c = await app.inject('/api/v1/conflict');
    assert.equal(c.statusCode, 409);
    assert.equal(c.json<{ detail: string }>().detail, 'Already in review');
  });

  test('log lines carry the request id and route but no query string', async () => {
    logLines.length = 0;
    await app.inject({
      url: '/healthz?ssn=123456789',
      headers: { 'x-request-id': 'trace-me-0001' },
    });
    const text = logLines.join('');
    assert.match(text, /trace-me-0001/);
    assert.ok(!text.includes('123456789'));
  });

  test('each request logs one completion line (route template, status, time) and no other', async () => {
    logLines.length = 0;
    await app.inject({
      method: 'POST',
      url: '/api/v1/echo',
      payload: { name: 'x' },
      headers: { 'x-request-id': 'one-line-0001' },
    });
    await app.inject({ url: '/api/v1/nowhere/123', headers: { 'x-request-id': 'one-line-0002' } });
    const lines = logLines
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const first = lines.filter((l) => l['reqId'] === 'one-line-0001');
    assert.equal(first.length, 1);
    assert.deepEqual(first[0]?.['req'], {
      id: 'one-line-0001',
      method: 'POST',
      route: '/api/v1/echo',
    });
    assert.deepEqual(first[0]?.['res'], { statusCode: 200 });
    assert.equal(typeof first[0]?.['responseTime'], 'number');
    const unmatched = lines.filter(
      (l) => l['reqId'] === 'one-line-0002' && l['msg'] === 'request completed',
    );
    assert.equal(unmatched.length, 1);
    assert.deepEqual(unmatched[0]?.['res'], { statusCode: 404 });
    assert.equal((unmatched[0]?.['req'] as { route: string }).route, '(unmatched)');
  });

  test('readyz reports 503 when the database is gone', async () => {
    const t2 = await createTestDatabase();
    const app2 = await buildApp({ db: t2.db, logger: createLogger('silent') });
    await t2.close();
    const r = await app2.inject('/readyz');
    assert.equal(r.statusCode, 503);
    await app2.close();
  });
});

describe('while the server closes', () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
  });
  after(() => t.close());

  /** An app with a route that answers only when released, listening on a free port. */
  const heldApp = async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const app = await buildApp({
      db: t.db,
      logger: createLogger('silent'),
      metrics: false,
      trustProxy: ['127.0.0.1'],
    });
    app.get('/held', async () => {
      await held;
      return { ok: true };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const socket = connect((app.server.address() as AddressInfo).port, '127.0.0.1');
    await once(socket, 'connect');
    const received = { text: '' };
    socket.on('data', (c: Buffer) => {
      received.text += c.toString('latin1');
    });
    return { app, socket, received, release: () => release() };
  };
  const within = <T>(p: Promise<T>, ms: number, what: string) =>
    Promise.race([
      p,
      setTimeout(ms).then(() => {
        throw new Error(`${what} took longer than ${ms} ms`);
      }),
    ]);

  test('a keep-alive connection whose request was in flight is closed once it is answered', async () => {
    const { app, socket, received, release } = await heldApp();
    try {
      socket.write('GET /held HTTP/1.1\r\nHost: ward\r\nConnection: keep-alive\r\n\r\n');
      await setTimeout(100);
      const closed = app.close();
      await setTimeout(50);
      release();
      // Without this the connection idles for the keep-alive timeout (72 s) and the
      // shutdown, which waits for every connection, past any orchestrator's grace period.
      await within(Promise.all([closed, once(socket, 'close')]), 5_000, 'the shutdown');
      assert.match(received.text, /^HTTP\/1\.1 200/);
      assert.match(received.text, /connection: close/i, received.text);
    } finally {
      socket.destroy();
      await app.close();
    }
  });

  test('a request that arrives during shutdown is a 503 problem+json with the usual headers', async () => {
    const { app, socket, received } = await heldApp();
    try {
      // The request's head is still arriving when the shutdown begins, so the connection is
      // not idle (it is left open) and the request is routed only after.
      socket.write('GET /healthz HTTP/1.1\r\nHost: ward\r\n');
      await setTimeout(100);
      const closed = app.close();
      await setTimeout(50);
      socket.write('X-Request-Id: closing-check-1\r\n\r\n');
      await within(Promise.all([closed, once(socket, 'close')]), 5_000, 'the shutdown');
      const late = received.text;
      assert.match(late, /^HTTP\/1\.1 503/, late);
      assert.match(late, /content-type: application\/problem\+json/i, late);
      assert.match(late, /cache-control: no-store/i);
      assert.match(late, /x-content-type-options: nosniff/i);
      assert.match(late, /x-request-id: closing-check-1/i);
      assert.match(late, /connection: close/i);
      assert.match(late, /"code":"shutting_down"/);
    } finally {
      socket.destroy();
      await app.close();
    }
  });
});

describe('a JSON body that does not finish arriving', () => {
  let t: TestDatabase;
  let app: FastifyInstance;
  let port: number;
  before(async () => {
    t = await createTestDatabase();
    app = await buildApp({
      db: t.db,
      logger: createLogger('silent'),
      modules: [echoModule],
      metrics: false,
      bodyTimeoutMs: 600,
    });
    // A streamed body (as image uploads are): read by its route, outside the JSON deadline.
    await app.register(async (sub) => {
      sub.addContentTypeParser('application/octet-stream', (_req, payload, next) => {
        next(null, payload);
      });
      sub.put('/streamed', async (req) => {
        let bytes = 0;
        for await (const chunk of req.body as AsyncIterable<Buffer>) bytes += chunk.length;
        return { bytes };
      });
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });
  after(async () => {
    await app.close();
    await t.close();
  });

  /** Opens a raw connection, sends `head`, then `body` one byte every `gapMs`. */
  const trickle = async (head: string, body: string, gapMs: number) => {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const received = { text: '', closed: false };
    socket.on('data', (c: Buffer) => {
      received.text += c.toString('latin1');
    });
    socket.on('close', () => {
      received.closed = true;
    });
    socket.on('error', () => undefined);
    socket.write(head);
    const sending = (async () => {
      for (const ch of body) {
        if (received.closed) return;
        socket.write(ch);
        await setTimeout(gapMs);
      }
    })();
    return { socket, received, sending };
  };

  test('a trickled JSON body is answered 408 request_timeout and its connection closed', async () => {
    const body = JSON.stringify({ name: 'slowly but surely' });
    // One byte every 100 ms: never idle, but far slower than the deadline allows in total.
    const { socket, received } = await trickle(
      'POST /api/v1/echo HTTP/1.1\r\nHost: ward\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${body.length}\r\n\r\n`,
      body,
      100,
    );
    try {
      const deadline = Date.now() + 4_000;
      while (!received.closed && Date.now() < deadline) await setTimeout(50);
      assert.ok(received.closed, `the connection is closed (got: ${received.text})`);
      assert.match(received.text, /^HTTP\/1\.1 408/, received.text);
      assert.match(received.text, /content-type: application\/problem\+json/i);
      assert.match(received.text, /connection: close/i);
      assert.match(received.text, /"code":"request_timeout"/);
      assert.match(received.text, /x-request-id: /i);
    } finally {
      socket.destroy();
    }
  });

  test('a JSON body that arrives within the deadline is served on a kept-alive connection', async () => {
    const body = JSON.stringify({ name: 'ok' });
    const { socket, received, sending } = await trickle(
      'POST /api/v1/echo HTTP/1.1\r\nHost: ward\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${body.length}\r\n\r\n`,
      body,
      20,
    );
    try {
      await sending;
      const deadline = Date.now() + 2_000;
      while (!received.text.includes('}') && Date.now() < deadline) await setTimeout(20);
      assert.match(received.text, /^HTTP\/1\.1 200/, received.text);
      assert.match(received.text, /\{"name":"ok"\}/);
      await setTimeout(800);
      assert.equal(received.closed, false, 'no deadline is left running after the answer');
    } finally {
      socket.destroy();
    }
  });

  test('a streamed body is not cut by the JSON deadline', async () => {
    const body = 'x'.repeat(12);
    const { socket, received, sending } = await trickle(
      'PUT /streamed HTTP/1.1\r\nHost: ward\r\nContent-Type: application/octet-stream\r\n' +
        `Content-Length: ${body.length}\r\n\r\n`,
      body,
      100,
    );
    try {
      await sending;
      const deadline = Date.now() + 2_000;
      while (!received.text.includes('}') && Date.now() < deadline) await setTimeout(20);
      assert.match(received.text, /^HTTP\/1\.1 200/, received.text);
      assert.match(received.text, /\{"bytes":12\}/);
    } finally {
      socket.destroy();
    }
  });

  test('WARD_BODY_TIMEOUT_SECONDS defaults to 30 and takes whole seconds from 1 to 3600', () => {
    assert.equal(loadConfig({}).bodyTimeoutMs, 30_000);
    assert.equal(loadConfig({ WARD_BODY_TIMEOUT_SECONDS: '5' }).bodyTimeoutMs, 5_000);
    for (const bad of ['0', '-1', '1.5', 'soon', '3601']) {
      assert.throws(() => loadConfig({ WARD_BODY_TIMEOUT_SECONDS: bad }), {
        code: 'config_invalid',
      });
    }
  });

  test('a stalled JSON body does not hold the shutdown', async () => {
    const t2 = await createTestDatabase();
    const app2 = await buildApp({
      db: t2.db,
      logger: createLogger('silent'),
      modules: [echoModule],
      metrics: false,
      bodyTimeoutMs: 600,
    });
    await app2.listen({ host: '127.0.0.1', port: 0 });
    const socket = connect((app2.server.address() as AddressInfo).port, '127.0.0.1');
    socket.on('error', () => undefined);
    try {
      await once(socket, 'connect');
      socket.write(
        'POST /api/v1/echo HTTP/1.1\r\nHost: ward\r\nContent-Type: application/json\r\n' +
          'Content-Length: 40\r\n\r\n{"name":',
      );
      await setTimeout(100);
      const started = Date.now();
      await Promise.race([
        app2.close(),
        setTimeout(4_000).then(() => {
          throw new Error('the shutdown waited for a body that never came');
        }),
      ]);
      assert.ok(Date.now() - started < 4_000);
    } finally {
      socket.destroy();
      await app2.close();
      await t2.close();
    }
  });
});
