// node-oidc-provider (OpenID Certified) as a peer for benchmarks/peer_oidc_provider.py.
//
//   node server.mjs CONFIG.json
//
// CONFIG.json (written by the Python script): {issuer, port, processes, resource, scope,
// signingKey: private Ed25519 JWK, clients: [{client_id, jwks: {keys: [public JWK]}}],
// redis: optional {url, prefix}}.
//
// Configured for the client_credentials grant only, private_key_jwt client authentication
// (EdDSA), and JWT access tokens (RFC 9068, `typ: at+jwt`) signed with EdDSA for one resource
// indicator. Storage is the bundled in-memory adapter unless `redis` is set: then every model,
// the client-assertion replay cache (ReplayDetection) included, lives in Redis, shared by all
// cluster processes, as the provider's documentation asks of a production deployment. Neither
// keeps a durable, ordered record of what was issued. `GET /live` is answered by plain
// node:http before the provider, as the server's HTTP floor.
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import process from 'node:process';

import Redis from 'ioredis';
import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const processes = Math.max(1, Number(config.processes) || 1);

// The provider's adapter interface over Redis: one JSON value per model instance, expiring with
// it, plus the two lookup indexes and the per-grant key set the interface asks for.
function redisAdapter({ url, prefix }) {
  const redis = new Redis(url);
  const grantable = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
    'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);
  return class RedisAdapter {
    constructor(model) {
      this.model = model;
    }

    key(id) {
      return `${prefix}${this.model}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      const batch = redis.multi();
      const expiry = expiresIn ? ['EX', expiresIn] : [];
      batch.set(key, JSON.stringify(payload), ...expiry);
      if (grantable.has(this.model) && payload.grantId) {
        batch.rpush(`${prefix}grant:${payload.grantId}`, key);
        if (expiresIn) batch.expire(`${prefix}grant:${payload.grantId}`, expiresIn);
      }
      if (payload.userCode) batch.set(`${prefix}userCode:${payload.userCode}`, id, ...expiry);
      if (payload.uid) batch.set(`${prefix}uid:${payload.uid}`, id, ...expiry);
      await batch.exec();
    }

    async find(id) {
      const value = await redis.get(this.key(id));
      return value ? JSON.parse(value) : undefined;
    }

    async findByUserCode(userCode) {
      const id = await redis.get(`${prefix}userCode:${userCode}`);
      return id ? this.find(id) : undefined;
    }

    async findByUid(uid) {
      const id = await redis.get(`${prefix}uid:${uid}`);
      return id ? this.find(id) : undefined;
    }

    async consume(id) {
      const payload = await this.find(id);
      if (payload) {
        payload.consumed = Math.floor(Date.now() / 1000);
        await redis.set(this.key(id), JSON.stringify(payload), 'KEEPTTL');
      }
    }

    async destroy(id) {
      await redis.del(this.key(id));
    }

    async revokeByGrantId(grantId) {
      const keys = await redis.lrange(`${prefix}grant:${grantId}`, 0, -1);
      await redis.del(...keys, `${prefix}grant:${grantId}`);
    }
  };
}

function serve() {
  const provider = new Provider(config.issuer, {
    ...(config.redis ? { adapter: redisAdapter(config.redis) } : {}),
    clients: config.clients.map(({ client_id: clientId, jwks }) => ({
      client_id: clientId,
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'EdDSA',
      id_token_signed_response_alg: 'EdDSA', // the only key in the provider's keystore
      jwks,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: config.scope,
    })),
    clientAuthMethods: ['private_key_jwt'],
    jwks: { keys: [config.signingKey] },
    scopes: config.scope.split(' '),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => config.resource,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resourceIndicator) => {
          if (resourceIndicator !== config.resource) {
            throw new errors.InvalidTarget();
          }
          return {
            scope: config.scope,
            audience: config.resource,
            accessTokenTTL: 600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'EdDSA' } },
          };
        },
      },
    },
  });
  provider.on('server_error', (_ctx, err) => {
    console.error('server_error', err);
  });

  const callback = provider.callback();
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/live') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '15' });
      res.end('{"status":"ok"}');
      return;
    }
    callback(req, res);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(config.port, '127.0.0.1');
}

if (processes > 1 && cluster.isPrimary) {
  for (let i = 0; i < processes; i += 1) {
    cluster.fork();
  }
  cluster.on('exit', (worker, code, signal) => {
    console.error(`worker ${worker.process.pid} exited (${signal || code})`);
  });
} else {
  serve();
}
