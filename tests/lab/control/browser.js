// Browser tests for meshcontrol's web pages, driven by headless Chromium (Debian's
// /usr/bin/chromium through playwright-core).  Run by tests/lab/control-e2e with:
//   MESH_URL (meshcontrol), MESH_WORK (the lab's directory, with the nodes' states),
//   MESH_NODE (ctl-node), MESH_ARTIFACTS (where the screenshots go).
// 1. Interactive device login: a node without an auth key prints a URL; a person opens it,
//    gets the login page, types a wrong password (refused with a visible message), then
//    the right one, approves the device, and the node's waiting registration completes.
// 2. Check mode: the tagged server asks control to hold an SSH login from alice's laptop;
//    alice approves it on the check page, entering her password again (refused without
//    it), the page shows when she did, and the held request is released with accept.
// 3. A device asking for tag:server: bob (not an owner) approving it is refused with the
//    reason, which the node gets too; alice (an owner) approves it and it is tagged.
'use strict';
const { chromium } = require('playwright-core');
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const url = process.env.MESH_URL;
const work = process.env.MESH_WORK;
const nodeBin = process.env.MESH_NODE;
const artifacts = process.env.MESH_ARTIFACTS;
// the netmap a node's cache holds (netmap.json and the deltas appended since: ctl-cache)
const cachedNetmap = (name) => JSON.parse(execFileSync(
	path.join(path.dirname(nodeBin), 'ctl-cache'), [path.join(work, name)]));

function fail(msg) {
	console.error('FAIL: ' + msg);
	process.exit(1);
}

// Run ctl-node; resolve with the first stdout line matching re (and the process).
function nodeUntil(args, re, timeoutMs) {
	return new Promise((resolve, reject) => {
		const p = spawn(nodeBin, ['--server', url, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '';
		const timer = setTimeout(() => reject(new Error(`no /${re.source}/ in: ${out}`)), timeoutMs);
		p.stdout.on('data', (d) => {
			out += d;
			for (const line of out.split('\n')) {
				const m = line.match(re);
				if (m) {
					clearTimeout(timer);
					resolve({ p, m, out: () => out });
					return;
				}
			}
		});
		p.stderr.on('data', (d) => { out += d; });
	});
}

function waitLine(proc, re, timeoutMs) {
	return new Promise((resolve, reject) => {
		const start = Date.now();
		const tick = () => {
			const m = proc.out().match(re);
			if (m) return resolve(m);
			if (Date.now() - start > timeoutMs) return reject(new Error(`no /${re.source}/ in: ${proc.out()}`));
			setTimeout(tick, 50);
		};
		tick();
	});
}

async function shot(page, name) {
	await page.screenshot({ path: path.join(artifacts, name + '.png'), fullPage: true });
	console.log(`screenshot ${name}.png`);
}

(async () => {
	const profile = fs.mkdtempSync(path.join(work, 'chromium-'));
	// A fresh profile directory (playwright passes it as --user-data-dir).
	const browser = await chromium.launchPersistentContext(profile, {
		executablePath: '/usr/bin/chromium',
		headless: true,
		viewport: { width: 390, height: 760 },
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	try {
		const page = browser.pages()[0] || await browser.newPage();

		// ---- 1. interactive device login ----
		const phone = await nodeUntil(['--state', path.join(work, 'phone'), '--hostname', 'phone',
			'--timeout', '60'], /^event 0 needs-login (\S+)$/, 15000);
		const loginUrl = phone.m[1];
		if (!loginUrl.startsWith(url + '/register/')) fail('login URL ' + loginUrl);
		await page.goto(loginUrl);
		if (!page.url().includes('/login?next=/register/')) fail('not sent to login: ' + page.url());
		await shot(page, '1-login');
		await page.fill('#login', 'alice@example.com');
		await page.fill('#password', 'wrong-password');
		await page.click('button[type=submit]');
		const err = (await page.textContent('#error')).trim();
		if (err !== 'Wrong login or password.') fail('wrong password message: ' + err);
		await shot(page, '2-wrong-password');
		console.log('ok: a wrong password is refused with "' + err + '"');
		await page.fill('#login', 'alice@example.com');
		await page.fill('#password', 'password-alice');
		await page.click('button[type=submit]');
		if (!page.url().startsWith(loginUrl)) fail('not back on the device page: ' + page.url());
		const dev = (await page.textContent('#device')).trim();
		if (dev !== 'phone') fail('device page names ' + dev);
		await shot(page, '3-approve-device');
		await page.click('button[value=approve]');
		const res = (await page.textContent('#result')).trim();
		if (!res.includes('phone is now in your tailnet')) fail('device result: ' + res);
		await shot(page, '4-device-approved');
		await waitLine(phone, /^event 0 registered phone$/m, 10000);
		await waitLine(phone, /^netmap 0 \d+ peers=\d+ cache=0/m, 10000);
		// the client writes its cache within a second, and at the latest when it stops
		const exited = new Promise((resolve) => phone.p.once('exit', resolve));
		phone.p.kill();
		await exited;
		const nm = cachedNetmap('phone');
		if (nm.self.owner !== 'alice@example.com') fail('phone owner ' + nm.self.owner);
		console.log('ok: interactive device login: the waiting node registered as alice\'s phone');

		// ---- 2. check-mode approval releases a held request ----
		const laptop = cachedNetmap('laptop');
		const src = laptop.self.addresses[0].split('/')[0];
		const hold = await nodeUntil(['--state', path.join(work, 'server'), '--hostname', 'server',
			'--timeout', '60', '--hold', src, 'root', '3600'], /^hold pending (\S+)$/, 15000);
		const checkUrl = hold.m[1];
		if (!checkUrl.startsWith(url + '/check/')) fail('check URL ' + checkUrl);
		await page.goto(checkUrl);
		const from = (await page.textContent('#src')).trim();
		const user = (await page.textContent('#user')).trim();
		if (from !== 'laptop' || user !== 'root') fail(`check page shows ${from} / ${user}`);
		await shot(page, '5-approve-check');
		// a check is a fresh login: approving without the password is refused
		await page.click('button[value=approve]');
		const nopw = (await page.textContent('#error')).trim();
		if (nopw !== 'Enter your password to approve this login.') fail('approve without password: ' + nopw);
		await page.fill('#reauth', 'password-alice');
		await page.click('button[value=approve]');
		const cres = (await page.textContent('#result')).trim();
		if (!cres.includes('is approved')) fail('check result: ' + cres);
		const auth = (await page.textContent('#auth')).trim();
		if (!/^alice@example\.com entered their password for this login at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.$/.test(auth))
			fail('check page, time of the authentication: ' + auth);
		await shot(page, '6-check-approved');
		await waitLine(hold, /^hold accept /m, 10000);
		console.log('ok: check-mode approval released the held request');

		// bob may not approve alice's logins
		const hold2 = await nodeUntil(['--state', path.join(work, 'server'), '--hostname', 'server',
			'--timeout', '60', '--hold', src, 'root', '0'], /^hold pending (\S+)$/, 15000);
		await browser.clearCookies();
		const page2 = await browser.newPage();
		await page2.goto(hold2.m[1]);
		await page2.fill('#login', 'bob@example.com');
		await page2.fill('#password', 'password-bob');
		await page2.click('button[type=submit]');
		const e2 = (await page2.textContent('#error')).trim();
		if (!e2.includes('Only the owner of the connecting device')) fail('bob on alice\'s check: ' + e2);
		await shot(page2, '7-not-your-device');
		hold2.p.kill();
		console.log('ok: another user cannot approve the check');

		// ---- 3. a device asking for tags: only an owner of the tags may approve it ----
		const kiosk = await nodeUntil(['--state', path.join(work, 'kiosk'), '--hostname', 'kiosk',
			'--tags', 'tag:server', '--timeout', '60'], /^event 0 needs-login (\S+)$/, 15000);
		await page2.goto(kiosk.m[1]); // bob is logged in on page2
		const tags = (await page2.textContent('#tags')).trim();
		if (tags !== 'tag:server') fail('device page shows tags ' + tags);
		await shot(page2, '8-approve-tagged-device');
		await page2.click('button[value=approve]');
		const e3 = (await page2.textContent('#error')).trim();
		const why = "tags: bob@example.com does not own tag:server in the policy's tagOwners";
		if (e3 !== 'kiosk was not added: ' + why) fail('bob approving tag:server: ' + e3);
		await shot(page2, '9-not-your-tags');
		await waitLine(kiosk, new RegExp('^event 0 refused the device was rejected on the login page: ' +
			why.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '$', 'm'), 10000);
		kiosk.p.kill();
		console.log('ok: a device asking for tag:server is refused when bob (not an owner) approves it');
		const kiosk2 = await nodeUntil(['--state', path.join(work, 'kiosk2'), '--hostname', 'kiosk2',
			'--tags', 'tag:server', '--timeout', '60'], /^event 0 needs-login (\S+)$/, 15000);
		await browser.clearCookies();
		await page2.goto(kiosk2.m[1]);
		await page2.fill('#login', 'alice@example.com');
		await page2.fill('#password', 'password-alice');
		await page2.click('button[type=submit]');
		await page2.click('button[value=approve]');
		const r3 = (await page2.textContent('#result')).trim();
		if (!r3.includes('kiosk2 is now in your tailnet')) fail('alice approving tag:server: ' + r3);
		await waitLine(kiosk2, /^netmap 0 \d+ peers=\d+ cache=0/m, 10000);
		const exited2 = new Promise((resolve) => kiosk2.p.once('exit', resolve));
		kiosk2.p.kill();
		await exited2;
		const k2 = cachedNetmap('kiosk2').self;
		if (k2.owner !== null || JSON.stringify(k2.tags) !== '["tag:server"]')
			fail('kiosk2 self ' + JSON.stringify(k2));
		console.log('ok: alice (an owner of tag:server) approves it and the device is tagged tag:server');
	} finally {
		await browser.close();
	}
})().catch((e) => fail(e.stack || String(e)));
