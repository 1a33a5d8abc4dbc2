// A real OpenID provider for the labs: panva's oidc-provider (tools/deps/npm.txt) on
// 127.0.0.1, with its own login form that checks passwords (a wrong one never reaches the
// client's callback), two people and a groups claim in the ID token.
//
//   node oidc-idp.js --port PORT --state DIR --client-id ID --client-secret-file F
//                    --redirect-uri URI [--rotate] [--groups-file F] [--no-auth-time-file F]
//
// People: alice (password alice-idp-pw, group eng) and bob (bob-idp-pw, no group).
// --groups-file (JSON: {"alice": ["eng"], "bob": []}) is read at each login, so a lab can
// change membership at the provider while it runs.  While the file --no-auth-time-file names
// exists, ID tokens leave out auth_time (a provider that ignores max_age), so a lab can
// switch it without a restart (which would end the provider's sessions).  Signing keys (RS256 and ES256) are made
// at the first start and kept in DIR/keys.json; --rotate makes new ones (new kids).  The
// client authenticates with client_secret_basic and must use PKCE S256.  Prints
// "oidc-idp: ready ISSUER" once it listens.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { pathToFileURL } = require('url');

function args() {
	const a = { rotate: false };
	const v = process.argv.slice(2);
	for (let i = 0; i < v.length; i++) {
		const k = v[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
		if (k === 'rotate')
			a.rotate = true;
		else
			a[k] = v[++i];
	}
	for (const k of ['port', 'state', 'clientId', 'clientSecretFile', 'redirectUri']) {
		if (!a[k]) {
			console.error('usage: oidc-idp.js --port PORT --state DIR --client-id ID ' +
				'--client-secret-file F --redirect-uri URI [--rotate] [--groups-file F] ' +
				'[--no-auth-time-file F]');
			process.exit(2);
		}
	}
	return a;
}

const PEOPLE = {
	alice: { password: 'alice-idp-pw', email: 'alice@example.com', groups: ['eng'] },
	bob: { password: 'bob-idp-pw', email: 'bob@example.com', groups: [] },
};

function groupsOf(opt, id) {
	if (!opt.groupsFile)
		return PEOPLE[id].groups;
	const g = JSON.parse(fs.readFileSync(opt.groupsFile, 'utf8'));
	return Array.isArray(g[id]) ? g[id] : [];
}

// Private JWKs for RS256 and ES256, kept across restarts unless --rotate.
function signingKeys(opt) {
	const file = path.join(opt.state, 'keys.json');
	if (!opt.rotate && fs.existsSync(file))
		return JSON.parse(fs.readFileSync(file, 'utf8'));
	const stamp = Date.now().toString(36);
	const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
	const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
	const keys = [
		{ ...rsa.export({ format: 'jwk' }), kid: 'rsa-' + stamp, alg: 'RS256', use: 'sig' },
		{ ...ec.export({ format: 'jwk' }), kid: 'ec-' + stamp, alg: 'ES256', use: 'sig' },
	];
	fs.mkdirSync(opt.state, { recursive: true, mode: 0o700 });
	fs.writeFileSync(file, JSON.stringify({ keys }), { mode: 0o600 });
	return { keys };
}

function escapeHtml(s) {
	return String(s).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
}

function loginPage(uid, login, error) {
	return '<!doctype html><html><head><meta charset="utf-8"><title>Sign in: lab IdP</title>' +
		'</head><body><h1>Lab identity provider</h1>' +
		(error ? '<p id="error">' + escapeHtml(error) + '</p>' : '') +
		'<form method="post" action="/interaction/' + escapeHtml(uid) + '/login">' +
		'<label>Login <input id="login" name="login" value="' + escapeHtml(login || '') +
		'" autofocus></label> <label>Password <input id="password" name="password" ' +
		'type="password"></label> <button type="submit">Sign in</button></form></body></html>';
}

function readForm(req) {
	return new Promise((resolve, reject) => {
		let body = '';
		req.setEncoding('utf8');
		req.on('data', (d) => {
			body += d;
			if (body.length > 4096)
				reject(new Error('form too large'));
		});
		req.on('end', () => resolve(new URLSearchParams(body)));
		req.on('error', reject);
	});
}

async function main() {
	const opt = args();
	const npm = process.env.NODE_PATH ||
		path.join(__dirname, '..', '..', '..', '.setup', 'npm', 'node_modules');
	const entry = path.join(npm, 'oidc-provider', 'lib', 'index.js');
	const { default: Provider } = await import(pathToFileURL(entry).href);
	const issuer = 'http://127.0.0.1:' + opt.port;
	const secret = fs.readFileSync(opt.clientSecretFile, 'utf8').trim();

	const provider = new Provider(issuer, {
		clients: [{
			client_id: opt.clientId,
			client_secret: secret,
			redirect_uris: [opt.redirectUri],
			grant_types: ['authorization_code'],
			response_types: ['code'],
			token_endpoint_auth_method: 'client_secret_basic',
		}],
		jwks: signingKeys(opt),
		cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
		claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
		// the groups (and email) in the ID token itself, not only from userinfo
		conformIdTokenClaims: false,
		enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES256'] },
		features: { devInteractions: { enabled: false } },
		pkce: { required: () => true },
		interactions: { url: (ctx, interaction) => '/interaction/' + interaction.uid },
		findAccount: async (ctx, id) => PEOPLE[id] && {
			accountId: id,
			claims: async () => ({
				sub: id,
				email: PEOPLE[id].email,
				email_verified: true,
				groups: groupsOf(opt, id),
			}),
		},
	});
	const callback = provider.callback();
	if (opt.noAuthTimeFile) {
		const payload = provider.IdToken.prototype.payload;
		provider.IdToken.prototype.payload = async function () {
			const p = await payload.call(this);
			if (fs.existsSync(opt.noAuthTimeFile))
				delete p.auth_time;
			return p;
		};
	}

	// The interaction: the login form (passwords checked here), then consent given for the
	// one lab client (so the flow needs no second page).
	async function interaction(req, res, uid, action) {
		const details = await provider.interactionDetails(req, res);
		if (details.uid !== uid)
			throw new Error('interaction mismatch');
		if (details.prompt.name === 'login' && req.method === 'GET') {
			res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
			return res.end(loginPage(uid));
		}
		if (details.prompt.name === 'login' && action === 'login') {
			const form = await readForm(req);
			const who = form.get('login') || '';
			const p = PEOPLE[who];
			if (!p || form.get('password') !== p.password) {
				res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
				return res.end(loginPage(uid, who, 'Wrong login or password.'));
			}
			return provider.interactionFinished(req, res, { login: { accountId: who } },
				{ mergeWithLastSubmission: false });
		}
		if (details.prompt.name === 'consent') {
			const { params, session } = details;
			let grant = details.grantId ? await provider.Grant.find(details.grantId) : null;
			if (!grant)
				grant = new provider.Grant({ accountId: session.accountId,
					clientId: params.client_id });
			const missing = details.prompt.details;
			if (missing.missingOIDCScope)
				grant.addOIDCScope(missing.missingOIDCScope.join(' '));
			if (missing.missingOIDCClaims)
				grant.addOIDCClaims(missing.missingOIDCClaims);
			const grantId = await grant.save();
			return provider.interactionFinished(req, res, { consent: { grantId } },
				{ mergeWithLastSubmission: true });
		}
		res.writeHead(400, { 'content-type': 'text/plain' });
		res.end('unexpected interaction step ' + details.prompt.name);
	}

	const server = http.createServer((req, res) => {
		const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?$/.exec(req.url.split('?')[0]);
		if (!m)
			return callback(req, res);
		interaction(req, res, m[1], m[2]).catch((e) => {
			console.error('oidc-idp: ' + e.message);
			if (!res.headersSent)
				res.writeHead(400, { 'content-type': 'text/plain' });
			res.end('interaction failed: ' + e.message);
		});
	});
	server.listen(Number(opt.port), '127.0.0.1', () => console.log('oidc-idp: ready ' + issuer));
	const stop = () => server.close(() => process.exit(0));
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
}

main().catch((e) => {
	console.error('oidc-idp: ' + (e.stack || e.message));
	process.exit(1);
});
