import { z } from 'zod';

/** What `ajar gate` says about the pipeline asking: kept in the audit log (request.created, access.checked). */
export const pipelineBody = z
  .strictObject({
    system: z.enum(['github', 'gitlab', 'jenkins']),
    runUrl: z.string().max(500).optional(),
    commit: z.string().max(100).optional(),
    actor: z.string().max(200).optional(),
    name: z.string().max(200).optional(),
  })
  .optional();
