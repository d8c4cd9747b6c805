// A SMART App Launch stack for ehrcheck's user-launch tests, on 127.0.0.1 only:
//   - oidc-provider (panva, OpenID-certified) as the authorization server: authorization code with
//     PKCE S256 required, refresh tokens (offline_access), revocation, introspection, an id_token
//     carrying fhirUser, and patient/encounter launch context in the token response;
//   - a login and consent page of our own (plain HTML forms, driven over HTTP by tests or by Chromium);
//   - an "EHR" page that launches an app (GET /ehr/launch) with iss and an opaque launch id;
//   - a resource server at /fhir that serves sekmet-fhir's data only to tokens this server issued,
//     within their scopes: patient/ scopes limit reads to the patient in context, SMART v2 granular
//     category scopes (patient/Observation.rs?category=...) filter searches and refuse reads outside
//     them, and CORS preflights from web apps are answered.
// Env: SMART_PORT (listen port), SMART_UPSTREAM (sekmet's open FHIR base, where the data lives).
// Test users: patient / patient-pass (a patient, fhirUser Patient/<id>), clinician / clinician-pass
// (fhirUser Practitioner/<id>). Clients: smart-public (public, PKCE), smart-confidential
// (client_secret_basic, secret smart-secret); both native, redirect http://127.0.0.1/callback on any port.
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.SMART_PORT);
const upstream = (process.env.SMART_UPSTREAM || '').replace(/\/$/, '');
if (!port || !upstream) {
  console.error('smart.mjs: SMART_PORT and SMART_UPSTREAM are required');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const fhirBase = `${issuer}/fhir`;

const TYPES = ['Patient', 'AllergyIntolerance', 'CarePlan', 'CareTeam', 'Condition', 'Coverage', 'Device',
  'DiagnosticReport', 'DocumentReference', 'Encounter', 'Goal', 'Immunization', 'Location', 'Medication',
  'MedicationDispense', 'MedicationRequest', 'Observation', 'Organization', 'Practitioner', 'PractitionerRole',
  'Procedure', 'Provenance', 'QuestionnaireResponse', 'RelatedPerson', 'ServiceRequest', 'Specimen'];
const CATEGORY = {
  Condition: ['http://terminology.hl7.org/CodeSystem/condition-category', ['problem-list-item', 'encounter-diagnosis'],
    'http://hl7.org/fhir/us/core/CodeSystem/condition-category', ['health-concern']],
  Observation: ['http://terminology.hl7.org/CodeSystem/observation-category',
    ['laboratory', 'vital-signs', 'social-history', 'survey', 'exam', 'imaging', 'procedure', 'therapy', 'activity']],
};
const granular = [];
for (const [type, spec] of Object.entries(CATEGORY)) {
  for (let i = 0; i < spec.length; i += 2) {
    for (const code of spec[i + 1]) granular.push(`patient/${type}.rs?category=${spec[i]}|${code}`);
  }
}
const SMART_SCOPES = [
  'launch', 'launch/patient', 'launch/encounter', 'fhirUser', 'online_access',
  ...['patient', 'user'].flatMap((ctx) => ['*', ...TYPES].flatMap((t) => [`${ctx}/${t}.rs`, `${ctx}/${t}.read`])),
  ...granular,
];
const USERS = {
  patient: { password: 'patient-pass', kind: 'Patient' },
  clinician: { password: 'clinician-pass', kind: 'Practitioner' },
};

// Patient, Practitioner and Encounter ids come from the upstream data, found once.
let people;
async function upstreamJson(path) {
  const r = await fetch(`${upstream}/${path}`, { headers: { Accept: 'application/fhir+json' } });
  return r.json();
}
async function known() {
  if (!people) {
    const cond = await upstreamJson('Condition?_count=1');
    const patient = cond.entry[0].resource.subject.reference.split('/').pop();
    const enc = await upstreamJson(`Encounter?patient=${patient}&_count=1`);
    const pract = await upstreamJson('Practitioner?_count=1');
    people = {
      patient,
      encounter: enc.entry?.[0]?.resource?.id,
      practitioner: pract.entry?.[0]?.resource?.id,
    };
  }
  return people;
}

const launches = new Map(); // EHR launch id -> {patient, encounter}
const contexts = new Map(); // grantId -> launch context for the token response
const native = {
  application_type: 'native',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: ['http://127.0.0.1/callback'],
};

const provider = new Provider(issuer, {
  clients: [
    { ...native, client_id: 'smart-public', token_endpoint_auth_method: 'none' },
    { ...native, client_id: 'smart-confidential', client_secret: 'smart-secret', token_endpoint_auth_method: 'client_secret_basic' },
  ],
  scopes: ['openid', 'offline_access', ...SMART_SCOPES],
  claims: { openid: ['sub'], fhirUser: ['fhirUser'] },
  conformIdTokenClaims: false, // fhirUser belongs in the id_token (SMART), not only at userinfo
  extraParams: ['aud', 'launch'],
  pkce: { required: () => true },
  cookies: { keys: ['ehrcheck-test-cookie-key'] },
  ttl: { AccessToken: 300, AuthorizationCode: 60, IdToken: 300, RefreshToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  async findAccount(_ctx, id) {
    const who = await known();
    const ref = id === 'patient' ? `Patient/${who.patient}` : `Practitioner/${who.practitioner}`;
    return { accountId: id, claims: async () => ({ sub: id, fhirUser: `${fhirBase}/${ref}` }) };
  },
});

// ---- small helpers ------------------------------------------------------------------------------
async function formBody(ctx) {
  const chunks = [];
  for await (const c of ctx.req) chunks.push(c);
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString()));
}
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
function page(ctx, title, body) {
  ctx.type = 'html';
  ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head>`
    + `<body><h1>${esc(title)}</h1>${body}</body></html>`;
}

// ---- login and consent --------------------------------------------------------------------------
async function interaction(ctx) {
  const [, , uid, action] = ctx.path.split('/');
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
  const { prompt, params } = details;
  if (params.aud !== fhirBase) { // SMART: the app names the FHIR server it wants; no code for any other
    const to = await provider.interactionResult(ctx.req, ctx.res, {
      error: 'invalid_request', error_description: 'aud is not this server\'s FHIR base URL',
    });
    return ctx.redirect(to);
  }
  if (ctx.method === 'GET') {
    if (prompt.name === 'login') {
      return page(ctx, 'Sign in', `<form method="post" action="/interaction/${esc(uid)}/login">`
        + '<label>User <input name="username" autocomplete="username"></label> '
        + '<label>Password <input name="password" type="password" autocomplete="current-password"></label> '
        + '<button type="submit">Sign in</button></form>');
    }
    return page(ctx, 'Authorize app', `<p>The app ${esc(params.client_id)} asks for: ${esc(params.scope)}</p>`
      + `<form method="post" action="/interaction/${esc(uid)}/confirm"><button type="submit">Allow</button></form>`);
  }
  const form = await formBody(ctx);
  if (action === 'login') {
    const user = USERS[form.username];
    if (!user || user.password !== form.password) {
      return page(ctx, 'Sign in failed', `<p><a href="/interaction/${esc(uid)}">Try again</a></p>`);
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: form.username } }, { mergeWithLastSubmission: false });
    return ctx.redirect(to);
  }
  if (action === 'confirm') {
    const accountId = details.session.accountId;
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId, clientId: params.client_id });
    grant.addOIDCScope(params.scope);
    const grantId = await grant.save();
    const who = await known();
    const scopes = new Set(String(params.scope).split(' '));
    let context = {};
    if (scopes.has('launch') && params.launch) {
      const launch = launches.get(params.launch);
      if (!launch) {
        const to = await provider.interactionResult(ctx.req, ctx.res, { error: 'invalid_request', error_description: 'unknown launch' });
        return ctx.redirect(to);
      }
      context = { ...launch, need_patient_banner: true, smart_style_url: `${issuer}/smart-style.json` };
    } else if (scopes.has('launch/patient')) {
      context = { patient: who.patient }; // one test patient: the patient user's own record, or the clinician's pick
    }
    contexts.set(grantId, context);
    const to = await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return ctx.redirect(to);
  }
  ctx.throw(404);
}

// ---- the EHR: launch an app for a patient -------------------------------------------------------
async function ehrLaunch(ctx) {
  const app = ctx.query.app;
  if (typeof app !== 'string' || !/^http:\/\/127\.0\.0\.1:\d+\//.test(app)) ctx.throw(400, 'app must be a loopback URL');
  const who = await known();
  const id = crypto.randomBytes(12).toString('hex');
  launches.set(id, { patient: ctx.query.patient || who.patient, encounter: ctx.query.encounter || who.encounter });
  const to = new URL(app);
  to.searchParams.set('iss', ctx.query.iss || fhirBase);
  to.searchParams.set('launch', id);
  ctx.redirect(to.toString());
}

// ---- the resource server ------------------------------------------------------------------------
function smartConfiguration() {
  return {
    issuer,
    jwks_uri: `${issuer}/jwks`,
    authorization_endpoint: `${issuer}/auth`,
    token_endpoint: `${issuer}/token`,
    revocation_endpoint: `${issuer}/token/revocation`,
    introspection_endpoint: `${issuer}/token/introspection`,
    grant_types_supported: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'none'],
    scopes_supported: ['openid', 'fhirUser', 'launch', 'launch/patient', 'offline_access', 'patient/*.rs', 'user/*.rs'],
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    capabilities: ['launch-standalone', 'launch-ehr', 'client-public', 'client-confidential-symmetric',
      'sso-openid-connect', 'context-standalone-patient', 'context-ehr-patient', 'context-ehr-encounter',
      'context-banner', 'context-style', 'permission-offline', 'permission-patient', 'permission-user',
      'permission-v1', 'permission-v2'],
  };
}

// What a token's scopes allow on one resource type: null (nothing), or {all, categories, compartment}.
function allowance(scopeText, type) {
  let all = false;
  const categories = [];
  let compartment = true;
  for (const s of String(scopeText || '').split(' ')) {
    const m = /^(patient|user)\/([A-Za-z*]+)\.(rs|read|cruds|\*)(?:\?category=(.+))?$/.exec(s);
    if (!m || (m[2] !== '*' && m[2] !== type)) continue;
    if (m[1] === 'user') compartment = false;
    if (m[4]) categories.push(m[4]);
    else all = true;
  }
  if (!all && !categories.length) return null;
  return { all, categories, compartment };
}
const codings = (r) => (r.category || []).flatMap((c) => c.coding || []).map((c) => `${c.system}|${c.code}`);
function permitted(resource, allow, patient) {
  if (!allow.all && !codings(resource).some((c) => allow.categories.includes(c))) return false;
  if (!allow.compartment) return true;
  if (resource.resourceType === 'Patient') return resource.id === patient;
  const ref = (resource.subject || resource.patient || resource.beneficiary || {}).reference;
  return ref === undefined ? !['Observation', 'Condition', 'Encounter'].includes(resource.resourceType) : ref === `Patient/${patient}`;
}
const outcome = (code, text) => ({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: text }] });

async function fhir(ctx) {
  const origin = ctx.get('Origin');
  if (origin) {
    ctx.set('Access-Control-Allow-Origin', origin);
    ctx.set('Vary', 'Origin');
  }
  if (ctx.method === 'OPTIONS') {
    ctx.set('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    ctx.set('Access-Control-Allow-Headers', 'Authorization, Content-Type, Accept');
    ctx.set('Access-Control-Max-Age', '600');
    ctx.status = 204;
    return;
  }
  const path = ctx.path.slice('/fhir'.length).replace(/^\//, '');
  if (path === '.well-known/smart-configuration') {
    ctx.body = smartConfiguration();
    return;
  }
  if (path === 'metadata') {
    const cap = await upstreamJson('metadata');
    const c = smartConfiguration();
    for (const rest of cap.rest || []) {
      rest.security = {
        service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
        extension: [{
          url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
          extension: [['authorize', c.authorization_endpoint], ['token', c.token_endpoint],
            ['revoke', c.revocation_endpoint], ['introspect', c.introspection_endpoint]].map(([url, v]) => ({ url, valueUri: v })),
        }],
      };
    }
    ctx.type = 'application/fhir+json';
    ctx.body = cap;
    return;
  }
  const auth = /^Bearer (.+)$/.exec(ctx.get('Authorization') || '');
  const token = auth ? await provider.AccessToken.find(auth[1]) : undefined;
  if (!token || token.isExpired) {
    ctx.status = 401;
    ctx.set('WWW-Authenticate', 'Bearer realm="smart-test", error="invalid_token"');
    ctx.type = 'application/fhir+json';
    ctx.body = outcome('login', 'a valid access token is required');
    return;
  }
  if (ctx.method !== 'GET') {
    ctx.status = 403;
    ctx.body = outcome('forbidden', 'read-only');
    return;
  }
  const [type, id] = path.split('/');
  const allow = /^[A-Z][A-Za-z]+$/.test(type || '') ? allowance(token.scope, type) : null;
  if (!allow) {
    ctx.status = 403;
    ctx.type = 'application/fhir+json';
    ctx.body = outcome('forbidden', `the token's scopes do not cover ${type}`);
    return;
  }
  const patient = (contexts.get(token.grantId) || {}).patient;
  const r = await fetch(`${upstream}/${path}${ctx.querystring ? `?${ctx.querystring}` : ''}`, { headers: { Accept: 'application/fhir+json' } });
  const text = (await r.text()).split(upstream).join(fhirBase); // paging links stay on this origin
  let doc = JSON.parse(text);
  ctx.type = 'application/fhir+json';
  if (r.status === 200 && id && doc.resourceType === type && !permitted(doc, allow, patient)) {
    ctx.status = 403;
    ctx.body = outcome('forbidden', 'outside the token\'s scopes');
    return;
  }
  if (r.status === 200 && doc.resourceType === 'Bundle') {
    doc.entry = (doc.entry || []).filter((e) => !e.resource || e.resource.resourceType !== type || permitted(e.resource, allow, patient));
    delete doc.total; // the filtered page no longer matches the upstream total
    doc = { ...doc };
  }
  ctx.status = r.status;
  ctx.body = doc;
}

// ---- wiring -------------------------------------------------------------------------------------
provider.use(async (ctx, next) => {
  if (ctx.path === '/fhir' || ctx.path.startsWith('/fhir/')) return fhir(ctx);
  if (ctx.path.startsWith('/interaction/')) return interaction(ctx);
  if (ctx.path === '/ehr/launch') return ehrLaunch(ctx);
  if (ctx.path === '/smart-style.json') {
    ctx.body = { color_background: '#edeae3', color_highlight: '#69b40f' };
    return undefined;
  }
  if (ctx.path === '/auth' && ctx.method === 'GET' && String(ctx.query.scope || '').split(' ').includes('offline_access')) {
    // oidc-provider drops offline_access unless consent is prompted for: ask, as SMART apps expect refresh tokens.
    ctx.query = { ...ctx.query, prompt: 'consent' };
  }
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body && ctx.body.access_token) {
    const at = await provider.AccessToken.find(ctx.body.access_token);
    const context = at ? contexts.get(at.grantId) : undefined;
    if (context) Object.assign(ctx.body, Object.fromEntries(Object.entries(context).filter(([, v]) => v !== undefined)));
  }
  return undefined;
});

provider.listen(port, '127.0.0.1');
console.log(`SMART stack listening on ${issuer} (FHIR ${fhirBase}, data from ${upstream})`);
