// SMART Backend Services authorization for the test EHR (SMART App Launch 2.2, RFC 7523,
// RFC 6749). A strict authorization server, so that notify's client is tested against the
// rules rather than against whatever a lenient server lets through:
//
//   GET  /fhir/.well-known/smart-configuration   discovery (token_endpoint, algorithms, ...)
//   POST /auth/token                             client_credentials grant; the client signs in
//                                                with a private_key_jwt assertion or with
//                                                client_secret_basic
//
// Every assertion rule is checked: alg in RS384/ES384, typ JWT, kid present and found in the
// client's JWK Set (inline, or fetched from its jwks_uri on every request), signature,
// iss = sub = client_id, aud = exactly this token URL, exp present and at most five minutes
// ahead, jti present and never seen before. Granted scopes are requested ∩ allowed (a
// requested scope is granted when an allowed scope covers it); none granted is invalid_scope.
// Tokens live tokenLifetime seconds, and every FHIR interaction is checked against the
// token's scopes: no or an expired token → 401, a missing scope → 403.
//
// SMART is on while at least one client is registered (admin API below); until then the
// server behaves as before (the static --token, or no auth).

import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { randomBytes, timingSafeEqual } from 'node:crypto';

export const ASSERTION_ALGORITHMS = ['RS384', 'ES384'];
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const MAX_ASSERTION_LIFETIME_S = 300;
const CLOCK_TOLERANCE_S = 5;
const JSON_TYPE = 'application/json; charset=utf-8';
const PERMISSIONS = 'cruds';
const V1_PERMISSIONS = { read: 'rs', write: 'cud', '*': 'cruds' };

/** "system/Task.crs" → { type: 'Task', permissions: Set('c','r','s') }; null if not a system scope. */
export function parseScope(scope) {
  const match = /^system\/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)$/.exec(scope);
  if (!match) return null;
  const [, type, text] = match;
  const letters = V1_PERMISSIONS[text] ?? text;
  // v2 permissions are a subsequence of "cruds", in that order, each at most once.
  let at = 0;
  for (const letter of letters) {
    at = PERMISSIONS.indexOf(letter, at) + 1;
    if (at === 0) return null;
  }
  return { type, permissions: new Set(letters) };
}

function covers(allowed, requested) {
  return (
    (allowed.type === '*' || allowed.type === requested.type) &&
    [...requested.permissions].every((p) => allowed.permissions.has(p))
  );
}

/** The interactions (type, permission letter) a FHIR request needs. */
export function requiredPermissions(method, path, query, headers, body) {
  const needs = [];
  const add = (type, letters) => [...letters].forEach((p) => needs.push({ type: type || '*', permission: p }));
  const [type, id] = path.split('/');
  if (!type && method === 'POST' && body?.resourceType === 'Bundle') {
    for (const entry of body.entry ?? []) {
      const [entryPath, entryQuery] = (entry?.request?.url ?? '').split('?');
      const [entryType, entryId] = entryPath.split('/').filter(Boolean);
      const m = entry?.request?.method;
      if (m === 'POST') add(entryType, entry.request.ifNoneExist ? 'cs' : 'c');
      else if (m === 'PUT' || m === 'PATCH') add(entryType, entryQuery !== undefined ? 'us' : 'u');
      else if (m === 'DELETE') add(entryType, entryQuery !== undefined ? 'ds' : 'd');
      else add(entryType, entryId && entryQuery === undefined ? 'r' : 's');
    }
    return needs;
  }
  if (method === 'GET') add(type, id && id !== '_search' ? 'r' : 's');
  else if (method === 'POST' && id === '_search') add(type, 's');
  else if (method === 'POST') add(type, headers['if-none-exist'] ? 'cs' : 'c');
  else if (method === 'PUT' || method === 'PATCH') add(type, query ? 'us' : 'u');
  else if (method === 'DELETE') add(type, query ? 'ds' : 'd');
  return needs;
}

function oauthError(status, error, description, headers = {}) {
  return {
    status,
    body: { error, error_description: description },
    headers: { 'Content-Type': JSON_TYPE, 'Cache-Control': 'no-store', ...headers },
  };
}

function operationOutcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

function checkClient(c) {
  if (typeof c?.clientId !== 'string' || !c.clientId) throw new Error('clientId must be a non-empty string');
  if (typeof c.scope !== 'string' || !c.scope.split(' ').every(parseScope)) {
    throw new Error('scope must be space-separated system scopes, e.g. "system/*.cruds"');
  }
  const ways = ['jwks', 'jwksUri', 'secret'].filter((k) => c[k] !== undefined && c[k] !== null);
  if (ways.length === 0) throw new Error('a client needs jwks, jwksUri or secret');
  if (c.jwks !== undefined && !Array.isArray(c.jwks?.keys)) throw new Error('jwks must be a JWK Set');
  const unknown = Object.keys(c).filter((k) => !['clientId', 'scope', 'jwks', 'jwksUri', 'secret'].includes(k));
  if (unknown.length) throw new Error(`unknown client keys: ${unknown.join(', ')}`);
  return { ...c, allowed: c.scope.split(' ').map(parseScope) };
}

export function createSmartAuth({ tokenLifetime }) {
  const initial = Object.freeze({ tokenLifetime, down: false });
  let config = { ...initial };
  const clients = new Map();
  const tokens = new Map(); // access token → { clientId, scopes, expiresAt }
  const seenJti = new Map(); // `${clientId} ${jti}` → expiry (ms), for replay detection
  const newStats = () => ({
    tokensIssued: 0,
    assertionKids: {}, // kid → accepted assertions signed with it (which key signs, e.g. after a rotation)
    tokenErrors: {},
    lastTokenError: null,
    unauthorized: 0,
    forbidden: 0,
  });
  let stats = newStats();

  const enabled = () => clients.size > 0;
  const tokenUrl = (req) => `http://${req.headers.host}/auth/token`;

  function refuse(status, error, description, headers) {
    stats.tokenErrors[error] = (stats.tokenErrors[error] ?? 0) + 1;
    stats.lastTokenError = `${error}: ${description}`;
    return oauthError(status, error, description, headers);
  }

  async function clientKeys(client) {
    if (client.jwks) return createLocalJWKSet(client.jwks);
    // Fetched on every request (no cache), so a rotation is seen at once.
    const response = await fetch(client.jwksUri, { signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`jwks_uri answered ${response.status}`);
    return createLocalJWKSet(await response.json());
  }

  /** private_key_jwt: returns the client, or a refusal. */
  async function assertionClient(req, params) {
    if (params.get('client_assertion_type') !== ASSERTION_TYPE) {
      return refuse(400, 'invalid_client', `client_assertion_type must be ${ASSERTION_TYPE}`);
    }
    const assertion = params.get('client_assertion') ?? '';
    let header;
    let claims;
    try {
      header = decodeProtectedHeader(assertion);
      claims = decodeJwt(assertion);
    } catch {
      return refuse(400, 'invalid_client', 'client_assertion is not a JWT');
    }
    if (!ASSERTION_ALGORITHMS.includes(header.alg)) return refuse(400, 'invalid_client', `alg ${header.alg} not allowed`);
    if (header.typ !== 'JWT') return refuse(400, 'invalid_client', 'typ header must be JWT');
    if (typeof header.kid !== 'string' || !header.kid) return refuse(400, 'invalid_client', 'kid header missing');
    const client = clients.get(claims.iss);
    if (!client || client.secret) return refuse(400, 'invalid_client', 'unknown client or not a private_key_jwt client');
    let keys;
    try {
      keys = await clientKeys(client);
    } catch (err) {
      return refuse(400, 'invalid_client', `cannot read the client's JWK Set (${err.message})`);
    }
    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, keys, {
        algorithms: [header.alg],
        issuer: client.clientId,
        subject: client.clientId,
        audience: tokenUrl(req),
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'jti'],
        clockTolerance: CLOCK_TOLERANCE_S,
      }));
    } catch (err) {
      return refuse(400, 'invalid_client', `assertion rejected: ${err.code ?? 'ERR'} ${err.message}`);
    }
    const now = Date.now() / 1000;
    if (typeof payload.aud !== 'string') return refuse(400, 'invalid_client', 'aud must be the token URL itself');
    if (payload.exp > now + MAX_ASSERTION_LIFETIME_S + CLOCK_TOLERANCE_S) {
      return refuse(400, 'invalid_client', 'exp is more than five minutes ahead');
    }
    for (const [key, expiry] of seenJti) if (expiry < Date.now()) seenJti.delete(key);
    const replayKey = `${client.clientId} ${payload.jti}`;
    if (seenJti.has(replayKey)) return refuse(400, 'invalid_client', 'jti already used');
    seenJti.set(replayKey, (payload.exp + CLOCK_TOLERANCE_S) * 1000);
    stats.assertionKids[header.kid] = (stats.assertionKids[header.kid] ?? 0) + 1;
    return { client };
  }

  /** client_secret_basic (RFC 6749 2.3.1): returns the client, or a refusal. */
  function basicClient(authorization) {
    const challenge = { 'WWW-Authenticate': 'Basic realm="test-ehr"' };
    const decoded = Buffer.from(authorization.slice('Basic '.length), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const form = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
    let id;
    let secret;
    try {
      [id, secret] = colon < 0 ? [decoded, ''] : [form(decoded.slice(0, colon)), form(decoded.slice(colon + 1))];
    } catch {
      return refuse(401, 'invalid_client', 'malformed Basic credentials', challenge);
    }
    const client = clients.get(id);
    const expected = Buffer.from(client?.secret ?? '');
    const given = Buffer.from(secret);
    if (!client?.secret || expected.length !== given.length || !timingSafeEqual(expected, given)) {
      return refuse(401, 'invalid_client', 'unknown client or wrong secret', challenge);
    }
    return { client };
  }

  async function handleToken(req, rawBody) {
    if (config.down) return oauthError(503, 'temporarily_unavailable', 'token endpoint down (test EHR)');
    if (req.method !== 'POST') return refuse(405, 'invalid_request', 'POST only');
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return refuse(400, 'invalid_request', 'form-encoded body required');
    }
    const params = new URLSearchParams(rawBody);
    if (params.get('grant_type') !== 'client_credentials') {
      return refuse(400, 'unsupported_grant_type', 'only client_credentials');
    }
    const basic = (req.headers.authorization ?? '').startsWith('Basic ');
    if (basic === params.has('client_assertion')) {
      return refuse(400, 'invalid_request', 'use exactly one of client_assertion or Basic auth');
    }
    const signedIn = basic ? basicClient(req.headers.authorization) : await assertionClient(req, params);
    if (!signedIn.client) return signedIn;
    const requested = (params.get('scope') ?? '').split(' ').filter(Boolean);
    const granted = requested.filter((scope) => {
      const wanted = parseScope(scope);
      return wanted && signedIn.client.allowed.some((allowed) => covers(allowed, wanted));
    });
    if (granted.length === 0) return refuse(400, 'invalid_scope', 'no requested scope is allowed for this client');
    const token = randomBytes(24).toString('base64url');
    tokens.set(token, {
      clientId: signedIn.client.clientId,
      scopes: granted.map(parseScope),
      expiresAt: Date.now() + config.tokenLifetime * 1000,
    });
    stats.tokensIssued++;
    const body = { access_token: token, token_type: 'bearer', expires_in: config.tokenLifetime, scope: granted.join(' ') };
    return { status: 200, body, headers: { 'Content-Type': JSON_TYPE, 'Cache-Control': 'no-store', Pragma: 'no-cache' } };
  }

  function smartConfiguration(req) {
    const body = {
      token_endpoint: tokenUrl(req),
      token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic'],
      token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
      grant_types_supported: ['client_credentials'],
      scopes_supported: ['system/*.cruds', 'system/*.read', 'system/*.write'],
      capabilities: ['client-confidential-asymmetric', 'client-confidential-symmetric', 'permission-v1', 'permission-v2'],
    };
    return { status: 200, body, headers: { 'Content-Type': JSON_TYPE } };
  }

  return {
    /** Answers the SMART routes; undefined for any other path. */
    async handle(req, url, rawBody) {
      if (url.pathname === '/auth/token') return handleToken(req, rawBody);
      if (url.pathname === '/fhir/.well-known/smart-configuration' && req.method === 'GET') return smartConfiguration(req);
      return undefined;
    },

    /**
     * Who is calling /fhir: { grant } (null = everything: the static token, or auth off), or
     * { denied } with a 401 answer.
     */
    authenticate(req, staticToken) {
      const authorization = req.headers.authorization ?? '';
      if (staticToken && authorization === `Bearer ${staticToken}`) return { grant: null };
      if (!enabled()) {
        if (!staticToken) return { grant: null };
        return { denied: { status: 401, body: operationOutcome('login', 'Unauthorized'), headers: { 'WWW-Authenticate': 'Bearer' } } };
      }
      const issued = authorization.startsWith('Bearer ') ? tokens.get(authorization.slice(7)) : undefined;
      if (!issued || issued.expiresAt <= Date.now()) {
        stats.unauthorized++;
        const why = issued ? 'expired' : 'missing or unknown';
        return {
          denied: {
            status: 401,
            body: operationOutcome('login', `Access token ${why}`),
            headers: { 'WWW-Authenticate': `Bearer error="invalid_token", error_description="token ${why}"` },
          },
        };
      }
      return { grant: issued };
    },

    /** A 403 answer if the token's scopes do not allow every interaction of the request. */
    authorize(grant, method, path, query, headers, body) {
      if (grant === null) return undefined;
      for (const need of requiredPermissions(method, path, query, headers, body)) {
        const ok = grant.scopes.some((s) => (s.type === '*' || s.type === need.type) && s.permissions.has(need.permission));
        if (!ok) {
          stats.forbidden++;
          return { status: 403, body: operationOutcome('forbidden', `Scope does not permit "${need.permission}" on ${need.type}`) };
        }
      }
      return undefined;
    },

    /** Admin routes under /admin/smart; undefined for any other. */
    admin(req, url, rawBody) {
      const route = `${req.method} ${url.pathname}`;
      const parsed = () => (rawBody ? JSON.parse(rawBody) : {});
      try {
        if (route === 'GET /admin/smart') {
          const listed = [...clients.values()].map(({ allowed, secret, ...c }) => ({ ...c, secret: secret ? '***' : undefined }));
          return { status: 200, body: { ...config, clients: listed, liveTokens: tokens.size, stats } };
        }
        if (route === 'POST /admin/smart/clients') {
          const client = checkClient(parsed());
          clients.set(client.clientId, client);
          return { status: 200, body: { registered: client.clientId } };
        }
        if (req.method === 'DELETE' && url.pathname.startsWith('/admin/smart/clients/')) {
          const id = decodeURIComponent(url.pathname.slice('/admin/smart/clients/'.length));
          return { status: clients.delete(id) ? 200 : 404, body: { removed: id } };
        }
        if (route === 'POST /admin/smart/config') {
          const patch = parsed();
          if (patch.tokenLifetime !== undefined && !(Number.isInteger(patch.tokenLifetime) && patch.tokenLifetime > 0)) {
            throw new Error('tokenLifetime must be a positive integer (seconds)');
          }
          if (patch.down !== undefined && typeof patch.down !== 'boolean') throw new Error('down must be a boolean');
          const unknown = Object.keys(patch).filter((k) => !['tokenLifetime', 'down'].includes(k));
          if (unknown.length) throw new Error(`unknown config keys: ${unknown.join(', ')}`);
          config = { ...config, ...patch };
          return { status: 200, body: config };
        }
        if (route === 'POST /admin/smart/revoke') {
          const revoked = tokens.size;
          tokens.clear();
          return { status: 200, body: { revoked } };
        }
      } catch (err) {
        return { status: 400, body: operationOutcome('invalid', err.message) };
      }
      return undefined;
    },

    reset() {
      clients.clear();
      tokens.clear();
      seenJti.clear();
      config = { ...initial };
      stats = newStats();
    },
  };
}
