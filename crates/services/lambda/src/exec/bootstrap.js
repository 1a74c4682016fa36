// snapstack's Node.js runtime: loads the function's handler and serves invocations from the
// Lambda Runtime API (AWS_LAMBDA_RUNTIME_API), as AWS's own runtime interface client does.
'use strict';
const http = require('http');
const path = require('path');
const fs = require('fs');
const { pathToFileURL } = require('url');

const [HOST, PORT] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const BASE = '/2018-06-01/runtime';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(method, p, body, headers) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(body);
    const h = Object.assign({}, headers || {});
    if (data) h['Content-Length'] = data.length;
    const req = http.request({ host: HOST, port: PORT, method, path: BASE + p, headers: h, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

function errorBody(e) {
  if (e instanceof Error) {
    return { errorType: e.name || 'Error', errorMessage: e.message, trace: String(e.stack || '').split('\n') };
  }
  return { errorType: typeof e === 'string' ? 'string' : 'Error', errorMessage: String(e), trace: [] };
}

async function loadHandler() {
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const handler = process.env._HANDLER || '';
  const dot = handler.lastIndexOf('.');
  if (dot < 0) {
    const err = new Error(`Bad handler ${handler}`);
    err.name = 'Runtime.MalformedHandlerName';
    throw err;
  }
  const modPath = handler.slice(0, dot);
  const fnPath = handler.slice(dot + 1);
  const base = path.resolve(root, modPath);
  let mod;
  for (const ext of ['.js', '.mjs', '.cjs']) {
    const file = base + ext;
    if (!fs.existsSync(file)) continue;
    try {
      if (ext === '.mjs') {
        mod = await import(pathToFileURL(file).href);
      } else {
        try {
          mod = require(file);
        } catch (e) {
          if (e && e.code === 'ERR_REQUIRE_ESM') mod = await import(pathToFileURL(file).href);
          else throw e;
        }
      }
    } catch (e) {
      const err = new Error(`${e && e.name ? e.name + ': ' : ''}${e && e.message ? e.message : e}`);
      err.name = e instanceof SyntaxError ? 'Runtime.UserCodeSyntaxError' : 'Runtime.ImportModuleError';
      throw err;
    }
    break;
  }
  if (!mod) {
    const err = new Error(`Error: Cannot find module '${modPath}'`);
    err.name = 'Runtime.ImportModuleError';
    throw err;
  }
  let fn = mod;
  for (const part of fnPath.split('.')) fn = fn && fn[part];
  if (typeof fn !== 'function' && mod && mod.default) {
    fn = mod.default;
    for (const part of fnPath.split('.')) fn = fn && fn[part];
  }
  if (typeof fn !== 'function') {
    const err = new Error(`${modPath}.${fnPath} is undefined or not exported`);
    err.name = 'Runtime.HandlerNotFound';
    throw err;
  }
  return fn;
}

function invokeHandler(fn, event, context) {
  return new Promise((resolve, reject) => {
    let done = false;
    const callback = (err, result) => {
      if (done) return;
      done = true;
      if (err !== undefined && err !== null) reject(err);
      else resolve(result);
    };
    context.done = callback;
    context.succeed = (r) => callback(null, r);
    context.fail = (e) => callback(e || new Error('handled'));
    try {
      const r = fn(event, context, callback);
      if (r && typeof r.then === 'function') r.then((v) => callback(null, v), (e) => callback(e === undefined ? new Error('undefined') : e));
      else if (fn.length < 3) callback(null, r);
    } catch (e) {
      callback(e);
    }
  });
}

async function main() {
  let fn;
  try {
    fn = await loadHandler();
  } catch (e) {
    const body = errorBody(e);
    console.error(`ERROR\t${body.errorType}: ${body.errorMessage}`);
    await request('POST', '/init/error', JSON.stringify(body), { 'Lambda-Runtime-Function-Error-Type': body.errorType });
    process.exit(1);
  }
  for (;;) {
    const next = await request('GET', '/invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    const deadline = Number(next.headers['lambda-runtime-deadline-ms'] || 0);
    process.env._X_AMZN_TRACE_ID = next.headers['lambda-runtime-trace-id'] || '';
    const context = {
      awsRequestId: id,
      invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    let event;
    try {
      event = next.body.length ? JSON.parse(next.body.toString('utf8')) : null;
      const result = await invokeHandler(fn, event, context);
      const out = JSON.stringify(result === undefined ? null : result);
      await request('POST', `/invocation/${id}/response`, out);
    } catch (e) {
      const body = errorBody(e);
      console.error(`${new Date().toISOString()}\t${id}\tERROR\tInvoke Error \t${JSON.stringify(body)}`);
      await request('POST', `/invocation/${id}/error`, JSON.stringify(body), { 'Lambda-Runtime-Function-Error-Type': body.errorType });
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
