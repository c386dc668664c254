/**
 * The console's entry: /console is the jobs list, /console/jobs/<id> one job. Both are this one page;
 * the server sent it only because the browser holds a console session.
 */
import { getJson } from './api.js';
import { renderJobPage } from './job-page.js';
import { renderJobsPage } from './jobs-page.js';

async function showWhoIsLoggedIn() {
  const who = document.getElementById('who');
  try {
    const session = await getJson('/session');
    // The tenant's name and role only: the key itself never reaches the page.
    who.textContent = `${session.name} (${session.role === 'admin' ? 'admin: every tenant' : 'client'})`;
  } catch {
    who.textContent = '';
  }
}

function route() {
  const view = document.getElementById('view');
  const jobMatch = /^\/console\/jobs\/([^/]+)\/?$/.exec(window.location.pathname);
  if (jobMatch) return renderJobPage(view, decodeURIComponent(jobMatch[1]));
  return renderJobsPage(view);
}

void showWhoIsLoggedIn();
void route();
