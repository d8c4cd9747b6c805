// oidc-provider (panva, OpenID-certified) as an independent OAuth 2.0 authorization server for
// ehrcheck's token-endpoint tests: client_credentials with client_secret_basic or private_key_jwt
// (RS384 / ES384), the same three test clients as sekmet, on 127.0.0.1 only.
// Env: AS_PORT (listen port), AS_KEYS (dir with rsa-k1.jwk.json / ec-p384.jwk.json public JWKs),
//      AS_AUDIENCE (the FHIR base the tokens are for).
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.env.AS_PORT);
const keys = process.env.AS_KEYS;
const audience = process.env.AS_AUDIENCE;
if (!port || !keys || !audience) {
  console.error('as.mjs: AS_PORT, AS_KEYS and AS_AUDIENCE are required');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const jwk = (name) => JSON.parse(readFileSync(`${keys}/${name}.jwk.json`, 'utf8'));
const SCOPES = ['system/*.read', 'system/*.rs', 'system/*.*', 'system/Patient.read', 'system/Patient.rs'];
const machine = { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: SCOPES.join(' ') };

const provider = new Provider(issuer, {
  clients: [
    { ...machine, client_id: 'ehrcheck-secret', client_secret: 's3cret', token_endpoint_auth_method: 'client_secret_basic' },
    { ...machine, client_id: 'ehrcheck-jwt', token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'RS384', jwks: { keys: [jwk('rsa-k1')] } },
    { ...machine, client_id: 'ehrcheck-ec', token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES384', jwks: { keys: [jwk('ec-p384')] } },
  ],
  scopes: SCOPES,
  enabledJWA: { clientAuthSigningAlgValues: ['RS384', 'ES384', 'RS256', 'ES256'] }, // RS384/ES384 are off by default
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: SCOPES.join(' '), audience, accessTokenTTL: 300, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});

// oidc-provider has no SMART discovery of its own; this is the document a FHIR server would publish.
provider.use(async (ctx, next) => {
  if (ctx.path === '/.well-known/smart-configuration') {
    ctx.body = {
      issuer,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      capabilities: ['client-confidential-asymmetric', 'client-confidential-symmetric', 'permission-v2'],
    };
    return;
  }
  await next();
});

provider.listen(port, '127.0.0.1');
console.log(`oidc-provider listening on ${issuer}`);
