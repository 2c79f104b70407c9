// One interop case per run, against real brokers: `node interop.mjs <case>`, with the brokers and
// the clients' private JWKs in the INTEROP_CONFIG environment variable (tests/interop/test_node.py).
// Prints one JSON line with what the client saw; any failed assertion exits non-zero.
import assert from 'node:assert/strict'
import * as oauth from 'oauth4webapi'
import * as jose from 'jose'

const config = JSON.parse(process.env.INTEROP_CONFIG)
const RESOURCE = config.resource
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
// The brokers listen on loopback http: oauth4webapi refuses plain http unless told.
const insecure = { [oauth.allowInsecureRequests]: true }

async function discover(issuer) {
  const url = new URL(issuer)
  const response = await oauth.discoveryRequest(url, { algorithm: 'oauth2', ...insecure })
  return oauth.processDiscoveryResponse(url, response)
}

// private_key_jwt with the client's key; `alg` renames the assertion's algorithm (oauth4webapi
// signs Ed25519 keys as "Ed25519", RFC 9864; the older name is "EdDSA").
async function clientAuth(clientId, alg) {
  const jwk = config.keys[clientId]
  const key = await jose.importJWK(jwk, jwk.alg)
  const options = alg ? { [oauth.modifyAssertion]: (header) => { header.alg = alg } } : {}
  return oauth.PrivateKeyJwt({ key, kid: jwk.kid }, options)
}

async function clientCredentials(as, clientId, params = {}, options = {}) {
  const auth = await clientAuth(clientId, options.alg)
  const client = { client_id: clientId }
  const parameters = { subject: 'alice', resource: RESOURCE, scope: 'calendar:read', ...params }
  const response = await oauth.clientCredentialsGrantRequest(as, client, auth, parameters, {
    ...insecure,
    ...(options.DPoP ? { DPoP: options.DPoP } : {}),
  })
  return oauth.processClientCredentialsResponse(as, client, response)
}

async function exchange(as, clientId, params) {
  const client = { client_id: clientId }
  const response = await oauth.genericTokenEndpointRequest(as, client, await clientAuth(clientId), EXCHANGE, params, insecure)
  return oauth.processGenericTokenEndpointResponse(as, client, response)
}

// The error code as oauth4webapi surfaces it: a ResponseBodyError (or a challenge) with `.error`.
async function errorOf(promise) {
  try {
    await promise
  } catch (err) {
    if (err instanceof oauth.ResponseBodyError) return { error: err.error, status: err.status }
    if (err instanceof oauth.WWWAuthenticateChallengeError) return { error: err.error, status: err.status }
    throw err
  }
  throw new Error('the request was expected to fail')
}

// A WebCrypto key pair from a client's private JWK (the public half exportable, as DPoP needs).
async function registeredKeyPair(clientId) {
  const jwk = config.keys[clientId]
  const { d, ...publicJwk } = jwk
  return {
    privateKey: await jose.importJWK(jwk, jwk.alg),
    publicKey: await jose.importJWK(publicJwk, jwk.alg, { extractable: true }),
  }
}

function payload(token) {
  return jose.decodeJwt(token)
}

const cases = {
  async discovery() {
    const as = await discover(config.brokers.EdDSA)
    assert.equal(as.issuer, config.brokers.EdDSA)
    for (const alg of ['Ed25519', 'EdDSA', 'ES256']) {
      assert.ok(as.token_endpoint_auth_signing_alg_values_supported.includes(alg), alg)
      assert.ok(as.dpop_signing_alg_values_supported.includes(alg), alg)
    }
    return { issuer: as.issuer, token_endpoint: as.token_endpoint }
  },

  // Ed25519 under its RFC 9864 name (oauth4webapi's default) and as EdDSA, and ES256.
  async 'client_credentials:ed25519'() {
    const as = await discover(config.brokers.EdDSA)
    const token = await clientCredentials(as, 'js-ed25519')
    return { token_type: token.token_type, scope: token.scope }
  },
  async 'client_credentials:eddsa'() {
    const as = await discover(config.brokers.EdDSA)
    const token = await clientCredentials(as, 'js-eddsa', {}, { alg: 'EdDSA' })
    return { token_type: token.token_type, scope: token.scope }
  },
  async 'client_credentials:es256'() {
    const as = await discover(config.brokers.EdDSA)
    const token = await clientCredentials(as, 'js-es256')
    return { token_type: token.token_type, scope: token.scope }
  },

  async dpop() {
    const as = await discover(config.brokers.EdDSA)
    // The broker accepts proofs made with a key the agent registered: its own client key here.
    const keyPair = await registeredKeyPair('js-ed25519')
    const DPoP = oauth.DPoP({}, keyPair)
    const token = await clientCredentials(as, 'js-ed25519', {}, { DPoP })
    assert.equal(token.token_type, 'dpop')
    const claims = payload(token.access_token)
    assert.ok(claims.cnf && typeof claims.cnf.jkt === 'string')
    const jwk = await crypto.subtle.exportKey('jwk', keyPair.publicKey)
    assert.equal(claims.cnf.jkt, await jose.calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }))
    return { token_type: token.token_type, jkt: claims.cnf.jkt }
  },

  async 'exchange:requested_actor'() {
    const as = await discover(config.brokers.EdDSA)
    const root = await clientCredentials(as, 'js-ed25519', { scope: 'calendar:read calendar:write' })
    const token = await exchange(as, 'js-ed25519', {
      subject_token: root.access_token,
      subject_token_type: ACCESS_TOKEN,
      requested_actor: 'delegate',
      scope: 'calendar:read',
    })
    const claims = payload(token.access_token)
    assert.deepEqual(claims.act, { sub: 'delegate', act: { sub: 'js-ed25519' } })
    return { issued_token_type: token.issued_token_type, client_id: claims.client_id }
  },

  async 'exchange:actor_token'() {
    const as = await discover(config.brokers.EdDSA)
    const handed = await clientCredentials(as, 'js-ed25519', { scope: 'calendar:read calendar:write' })
    const own = await clientCredentials(as, 'delegate')
    const token = await exchange(as, 'delegate', {
      subject_token: handed.access_token,
      subject_token_type: ACCESS_TOKEN,
      actor_token: own.access_token,
      actor_token_type: ACCESS_TOKEN,
      audience: RESOURCE,
      scope: 'calendar:read',
    })
    const claims = payload(token.access_token)
    assert.deepEqual(claims.act, { sub: 'delegate', act: { sub: 'js-ed25519' } })
    return { issued_token_type: token.issued_token_type, client_id: claims.client_id }
  },

  async introspection_and_revocation() {
    const as = await discover(config.brokers.EdDSA)
    const token = await clientCredentials(as, 'js-es256')
    const holder = { client_id: 'calendar-holder' }
    const auth = await clientAuth('calendar-holder')
    const before = await oauth.processIntrospectionResponse(
      as, holder, await oauth.introspectionRequest(as, holder, auth, token.access_token, insecure))
    assert.equal(before.active, true)
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(as, holder, auth, token.access_token, insecure))
    const after = await oauth.processIntrospectionResponse(
      as, holder, await oauth.introspectionRequest(as, holder, auth, token.access_token, insecure))
    return { before: before.active, after: after.active, client_id: before.client_id }
  },

  async errors() {
    const as = await discover(config.brokers.EdDSA)
    const root = await clientCredentials(as, 'js-ed25519', { scope: 'calendar:read calendar:write' })
    const exchangeWith = (params) => exchange(as, 'js-ed25519', {
      subject_token: root.access_token, subject_token_type: ACCESS_TOKEN, requested_actor: 'delegate', ...params,
    })
    const stranger = await jose.generateKeyPair('Ed25519')
    const client = { client_id: 'js-ed25519' }
    const wrongKey = oauth.PrivateKeyJwt({ key: stranger.privateKey, kid: config.keys['js-ed25519'].kid })
    return {
      invalid_scope: await errorOf(clientCredentials(as, 'js-ed25519', { scope: 'calendar:read bad::' })),
      invalid_target: await errorOf(clientCredentials(as, 'js-ed25519', { resource: 'https://nowhere.example/api' })),
      access_denied: await errorOf(clientCredentials(as, 'js-ed25519', { subject: 'nobody' })),
      invalid_client: await errorOf(oauth.processClientCredentialsResponse(as, client,
        await oauth.clientCredentialsGrantRequest(as, client, wrongKey,
          { subject: 'alice', resource: RESOURCE, scope: 'calendar:read' }, insecure))),
      exchange_requested_token_type: await errorOf(
        exchangeWith({ requested_token_type: 'urn:ietf:params:oauth:token-type:id_token' })),
      exchange_audience: await errorOf(exchangeWith({ audience: 'https://elsewhere.example' })),
      exchange_subject_token: await errorOf(exchangeWith({ subject_token: 'not-a-token' })),
    }
  },

  // RFC 9068: the token checked by jose's jwtVerify with the broker's JWKS, and by
  // oauth4webapi's own resource-server validator, for each signing algorithm.
  async 'validate:EdDSA'() { return validate('EdDSA') },
  async 'validate:ES256'() { return validate('ES256') },
  async 'validate:RS256'() { return validate('RS256') },
}

async function validate(alg) {
  const as = await discover(config.brokers[alg])
  const token = await clientCredentials(as, 'js-ed25519')
  const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri))
  const { payload: claims, protectedHeader } = await jose.jwtVerify(token.access_token, jwks, {
    issuer: as.issuer,
    audience: RESOURCE,
    algorithms: [alg],
    typ: 'at+jwt',
    requiredClaims: ['sub', 'client_id', 'jti', 'iat', 'exp'],
  })
  assert.equal(protectedHeader.alg, alg)
  const request = new Request('https://calendar.example/api/events', {
    headers: { authorization: `Bearer ${token.access_token}` },
  })
  const validated = await oauth.validateJwtAccessToken(as, request, RESOURCE, insecure)
  assert.equal(validated.sub, 'alice')
  // Pinned to another algorithm, jose refuses the same token.
  const other = alg === 'RS256' ? 'ES256' : 'RS256'
  await assert.rejects(jose.jwtVerify(token.access_token, jwks, { algorithms: [other] }))
  return { alg: protectedHeader.alg, sub: claims.sub, client_id: validated.client_id }
}

const name = process.argv[2]
if (!(name in cases)) {
  console.error(`unknown case ${name}; one of ${Object.keys(cases).join(', ')}`)
  process.exit(2)
}
console.log(JSON.stringify(await cases[name]()))
