import type { FastifyInstance } from 'fastify';
import type { SecuredDeps } from '../access/secured-route.ts';
import type { FieldCodec } from '../crypto/codec.ts';
import type { ImageDeps } from './images-service.ts';
import { registerCaseRoutes } from './routes/cases.ts';
import { registerDiagnosisRoutes } from './routes/diagnoses.ts';
import { registerImageRoutes } from './routes/images.ts';
import { registerPlanRoutes } from './routes/plans.ts';
import { registerPatientRoutes } from './routes/patients.ts';

/** Mounts the clinical domain's routes (under /api/v1). */
export function registerClinicalRoutes(
  app: FastifyInstance,
  s: SecuredDeps,
  codec: FieldCodec,
  images: Omit<ImageDeps, 'codec'>,
): void {
  registerPatientRoutes(app, s, codec);
  registerCaseRoutes(app, s, codec);
  registerDiagnosisRoutes(app, s, codec);
  registerPlanRoutes(app, s, codec);
  registerImageRoutes(app, s, { ...images, codec });
}
