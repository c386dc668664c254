import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Request, Response } from 'express';
import { HttpError } from '../http-error';

/**
 * The console's static files: our own (apps/api/console/, plain JS and CSS shipped as they are, no
 * build step) and uPlot's, served from the installed package, so no page ever loads anything from
 * another origin. Read once at start: the set is small and fixed, and a missing file fails the
 * API's start rather than one page at 3 a.m.
 */
const OWN_DIR = join(__dirname, '..', '..', 'console');
const UPLOT_DIR = join(dirname(require.resolve('uplot/package.json')), 'dist');

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

/** Every asset by its name under /console/assets/, and the directory it comes from. */
const ASSET_SOURCES: Record<string, string> = {
  'app.js': OWN_DIR,
  'api.js': OWN_DIR,
  'format.js': OWN_DIR,
  'jobs-page.js': OWN_DIR,
  'job-page.js': OWN_DIR,
  'metrics-chart.js': OWN_DIR,
  'timeline.js': OWN_DIR,
  'style.css': OWN_DIR,
  'uPlot.iife.min.js': UPLOT_DIR,
  'uPlot.min.css': UPLOT_DIR,
};

interface Asset {
  body: Buffer;
  contentType: string;
}

function load(dir: string, name: string): Asset {
  const extension = name.slice(name.lastIndexOf('.'));
  return { body: readFileSync(join(dir, name)), contentType: CONTENT_TYPES[extension] ?? 'application/octet-stream' };
}

export interface ConsoleAssets {
  /** GET /console/assets/:name. */
  serve(req: Request, res: Response): void;
  /** The console's one HTML page (the jobs list and the job page are drawn by app.js). */
  indexHtml: Buffer;
}

export function loadConsoleAssets(): ConsoleAssets {
  const assets = new Map(Object.entries(ASSET_SOURCES).map(([name, dir]) => [name, load(dir, name)]));
  const indexHtml = load(OWN_DIR, 'index.html').body;
  return {
    indexHtml,
    serve(req, res) {
      const asset = assets.get(String(req.params.name));
      if (!asset) throw new HttpError(404, 'not_found', 'No such route');
      // Scripts and styles hold no data; a short cache spares reloads without pinning an old release for long.
      res.set({ 'Content-Type': asset.contentType, 'Cache-Control': 'private, max-age=300' });
      res.send(asset.body);
    },
  };
}
