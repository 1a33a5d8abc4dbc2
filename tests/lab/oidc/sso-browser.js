// One headless Chromium (Debian's /usr/bin/chromium through playwright-core) for
// tests/lab/sso, driven a step at a time so that the lab can run meshctl between steps
// while the browser keeps its cookies (meshcontrol's and the provider's session).
//   node sso-browser.js SCREENSHOT_DIR
// Reads one command a line on stdin, answers one line on stdout ("ok", then KEY=VALUE
// fields, each after a tab; or "fail WHY"); every request the browser makes to /oidc/callback is recorded, so that the
// lab can tell that a wrong password never reached meshcontrol.  MESH_CERT_SPKI pins
// meshcontrol's certificate (the lab's CA), as in tests/lab/lib/approve.js.
//   page SHOT URL                       open URL: status=, session= (1: its answer started a
//                                       meshcontrol session), error= (#error), idp=
//                                       (#idp-error), sso= (the "Sign in with" link's text)
//   device SHOT URL NAME LOGIN PASSWORD a device login URL through "Sign in with ...", the
//                                       provider's form when it asks (form=1 or 0), and
//                                       approve: callback= (the URL the provider sent back),
//                                       session= (1: the callback's answer started a session)
//   wrongpw SHOT URL LOGIN PASSWORD     "Sign in with ..." from URL, a wrong password at the
//                                       provider: still= (1: still on its form), error=
//   check SHOT URL LOGIN PASSWORD [fresh]  a check page's URL (a hold's): the provider's form
//                                       when it asks (form=1 or 0), then meshcontrol's page:
//                                       reauth= (#reauth), error=; with an Approve button it
//                                       is clicked: result=, auth=.  fresh: in a new browser
//                                       context (no cookies; closed after), as another person
//   signin SHOT LOGIN PASSWORD          meshcontrol's /login, "Sign in with ...", the provider's
//                                       form when it asks (form=1 or 0), back through
//                                       /oidc/callback: session= (1: a meshcontrol session)
//   callbacks                           n= how many /oidc/callback requests so far
//   forget                              drops meshcontrol's cookies, keeps the provider's
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const path = require('path');
const readline = require('readline');

const shots = process.argv[2];
if (!shots) {
	console.error('usage: sso-browser.js SCREENSHOT_DIR');
	process.exit(2);
}

// one line per answer: what a page says may hold newlines or runs of spaces
const flat = (s) => String(s == null ? '' : s).replace(/\s+/g, ' ').trim();

async function text(page, sel) {
	const e = await page.$(sel);
	return e ? flat(await e.textContent()) : '';
}

(async () => {
	fs.mkdirSync(shots, { recursive: true });
	const browser = await chromium.launch({
		executablePath: '/usr/bin/chromium',
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync']
			.concat(process.env.MESH_CERT_SPKI ?
				['--ignore-certificate-errors-spki-list=' + process.env.MESH_CERT_SPKI] : []),
	});
	const context = await browser.newContext({ viewport: { width: 480, height: 760 } });
	const page = await context.newPage();
	const callbacks = [];
	// each page loaded, with the time since the command began, on stderr (the lab's
	// browser.log): where a slow step spends its time
	let t0 = Date.now();
	page.on('load', () => console.error(`+${Date.now() - t0} ms ${page.url().slice(0, 100)}`));
	page.on('request', (rq) => {
		if (new URL(rq.url()).pathname === '/oidc/callback')
			callbacks.push(rq.url());
	});
	// whether a response starts a meshcontrol session (its Set-Cookie)
	const session = async (r) => r &&
		/(^|\n)mesh_session=/.test((await r.headerValue('set-cookie')) || '') ? 1 : 0;
	const cbSessions = [];
	page.on('response', (r) => {
		if (new URL(r.url()).pathname === '/oidc/callback')
			cbSessions.push(session(r));
	});
	const shot = (name) => page.screenshot({ path: path.join(shots, name + '.png'),
		fullPage: true });

	// The provider's login form is on the issuer's origin, with #login and #password.
	async function providerForm() {
		return !page.url().startsWith(process.env.MESH_URL) && !!(await page.$('#password'));
	}
	async function signInWith(url, name) {
		await page.goto(url);
		await shot(name + '-1-login');
		if (!new URL(page.url()).pathname.startsWith('/login'))
			throw new Error('not sent to /login: ' + page.url());
		const link = await page.$('#sso');
		if (!link)
			throw new Error('no "Sign in with" link on ' + page.url() + ': ' +
				flat(await page.textContent('body')).slice(0, 300));
		await Promise.all([page.waitForNavigation(), link.click()]);
	}

	// "Sign in with ..." from url, the provider's form when it asks (1, else 0), and
	// exactly one request to /oidc/callback
	async function signInThrough(url, name, login, password) {
		const before = callbacks.length;
		await signInWith(url, name);
		let form = 0;
		if (await providerForm()) {
			form = 1;
			await shot(name + '-2-provider-form');
			await page.fill('#login', login);
			await page.fill('#password', password);
			await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
		}
		if (callbacks.length !== before + 1)
			throw new Error(`${callbacks.length - before} callbacks, at ${page.url()}: ` +
				flat(await page.textContent('body')).slice(0, 300));
		return form;
	}

	const cmds = {
		async page(name, url) {
			const r = await page.goto(url);
			await shot(name);
			return [`status=${r ? r.status() : 0}`, `session=${await session(r)}`,
				`sso=${await text(page, '#sso')}`,
				`idp=${await text(page, '#idp-error')}`, `error=${await text(page, '#error')}`];
		},
		async device(name, url, device, login, password) {
			const form = await signInThrough(url, name, login, password);
			const dev = await text(page, '#device');
			if (dev !== device)
				throw new Error(`the device page at ${page.url()} names "${dev}": ` +
					flat(await page.textContent('body')).slice(0, 300));
			await shot(name + '-3-approve');
			await Promise.all([page.waitForNavigation(), page.click('button[value=approve]')]);
			await shot(name + '-4-approved');
			return [`form=${form}`, `session=${await cbSessions[cbSessions.length - 1]}`,
				`callback=${callbacks[callbacks.length - 1]}`,
				`result=${await text(page, '#result')}`];
		},
		async wrongpw(name, url, login, password) {
			await signInWith(url, name);
			if (!(await providerForm()))
				throw new Error('no provider form at ' + page.url());
			await shot(name + '-2-provider-form');
			await page.fill('#login', login);
			await page.fill('#password', password);
			await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
			await shot(name + '-3-wrong-password');
			return [`still=${(await providerForm()) ? 1 : 0}`, `error=${await text(page, '#error')}`];
		},
		async check(name, url, login, password, fresh) {
			const ctx = fresh === 'fresh' ?
				await browser.newContext({ viewport: { width: 480, height: 760 } }) : context;
			const pg = fresh === 'fresh' ? await ctx.newPage() : page;
			const snap = (n) => pg.screenshot({ path: path.join(shots, name + '-' + n + '.png'),
				fullPage: true });
			try {
				await pg.goto(url);
				let form = 0;
				if (!pg.url().startsWith(process.env.MESH_URL) && (await pg.$('#password'))) {
					form = 1;
					await snap('1-provider-form');
					await pg.fill('#login', login);
					await pg.fill('#password', password);
					await Promise.all([pg.waitForNavigation(), pg.click('button[type=submit]')]);
				}
				const out = [`form=${form}`, `reauth=${await text(pg, '#reauth')}`,
					`error=${await text(pg, '#error')}`];
				if (await pg.$('button[value=approve]')) {
					await snap('2-approve');
					await Promise.all([pg.waitForNavigation(),
						pg.click('button[value=approve]')]);
					await snap('3-approved');
					out.push(`result=${await text(pg, '#result')}`, `auth=${await text(pg, '#auth')}`);
				} else {
					await snap('2-refused');
				}
				return out;
			} finally {
				if (fresh === 'fresh')
					await ctx.close();
			}
		},
		async signin(name, login, password) {
			const form = await signInThrough(process.env.MESH_URL + '/login', name, login,
				password);
			await shot(name + '-3-signed-in');
			return [`form=${form}`, `session=${await cbSessions[cbSessions.length - 1]}`];
		},
		async callbacks() {
			return [`n=${callbacks.length}`];
		},
		// meshcontrol's cookies go (as when its session ends), the provider's stay
		async forget() {
			const host = new URL(process.env.MESH_URL).hostname;
			const keep = (await context.cookies()).filter((c) => c.domain !== host);
			await context.clearCookies();
			await context.addCookies(keep);
			return [`kept=${keep.length}`];
		},
	};

	const rl = readline.createInterface({ input: process.stdin });
	for await (const line of rl) {
		const [cmd, ...a] = line.trim().split(/\s+/);
		if (!cmd)
			continue;
		if (cmd === 'quit')
			break;
		t0 = Date.now();
		console.error(`${cmd}`);
		try {
			if (!cmds[cmd])
				throw new Error('unknown command ' + cmd);
			console.log(['ok', ...await cmds[cmd](...a)].join('\t'));
		} catch (e) {
			console.log('fail ' + flat(e.message));
		}
	}
	rl.close();
	await browser.close();
	process.exit(0);
})().catch((e) => {
	console.log('fail ' + flat(e.stack || e.message));
	process.exit(1);
});
