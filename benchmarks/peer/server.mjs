// node-oidc-provider (OpenID Certified) as a peer for benchmarks/peer_oidc_provider.py.
//
//   node server.mjs CONFIG.json
//
// CONFIG.json (written by the Python script): {issuer, port, processes, resource, scope,
// signingKey: private Ed25519 JWK, clients: [{client_id, jwks: {keys: [public JWK]}}]}.
//
// Configured for the client_credentials grant only, private_key_jwt client authentication
// (EdDSA), and JWT access tokens (RFC 9068, `typ: at+jwt`) signed with EdDSA for one resource
// indicator. Storage is the bundled in-memory adapter: nothing is durable, and the replay cache
// for client-assertion `jti`s is a per-process LRU. `GET /live` is answered by plain node:http
// before the provider, as the server's HTTP floor.
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import process from 'node:process';

import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const processes = Math.max(1, Number(config.processes) || 1);

function serve() {
  const provider = new Provider(config.issuer, {
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
