import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { pgCode } from '../../src/platform/errors.ts';
import { auth, createTestApi, seedOrg, tokenFor, type TestApi } from '../helpers/api.ts';
import { availableEngines } from '../helpers/db.ts';

// Image metadata follows DICOM: the modality and the body part are Code Strings (CS: up to 16
// of A–Z, 0–9, underscore and space; upper case only, no leading or trailing space), so real
// modalities such as RTIMAGE are accepted and a body part cannot carry free text (it is stored
// unencrypted); a UID's components have no leading zero unless they are exactly "0". The API
// schema and the table's checks agree.
const modalities = ['CT', 'MR', 'US', 'RTIMAGE', 'RTDOSE', 'RTSTRUCT', 'RTPLAN', 'RTRECORD', 'SEG'];
const badModalities = ['ct', 'C', ' CT', 'CT ', 'RT-IMAGE', 'ABCDEFGHIJKLMNOPQ', ''];
const bodyParts = ['CHEST', 'HEADNECK', 'ABDOMENPELVIS', 'LEFT HAND', 'T_SPINE', 'C2'];
const badBodyParts = ['chest', 'Chest', 'John Doe, 1970-01-01', 'CHEST!', ' CHEST', 'A'.repeat(17)];
const uids = ['1.2.840.10008.5.1.4.1.1.481.1', '1.0.2', '0', '2.25.0.1'];
const badUids = ['1.02.3', '01.2', '1.2.00', '1..2', '1.2.', '.1', '1.2.a'];

for (const engine of availableEngines()) {
  describe(`image metadata is DICOM-shaped (${engine})`, () => {
    let api: TestApi;
    let doctor: string;
    let orgId: string;
    let patientId: string;
    let caseId: string;

    const create = (payload: Record<string, unknown>) =>
      api.app.inject({
        method: 'POST',
        url: `/api/v1/cases/${caseId}/images`,
        headers: auth(doctor, 'TREAT'),
        payload: { contentType: 'image/png', ...payload },
      });

    before(async () => {
      api = await createTestApi(undefined, engine);
      const org = await seedOrg(api, 'Dicom', ['doctor']);
      orgId = org.orgId;
      doctor = await tokenFor(api, org.users['doctor']!.email);
      const headers = auth(doctor, 'TREAT');
      const p = await api.app.inject({
        method: 'POST',
        url: '/api/v1/patients',
        headers,
        payload: { mrn: 'MRN-DCM', firstName: 'Di', lastName: 'Com', dateOfBirth: '1970-01-01' },
      });
      patientId = p.json<{ id: string }>().id;
      const c = await api.app.inject({
        method: 'POST',
        url: '/api/v1/cases',
        headers,
        payload: { patientId, chiefComplaint: 'Synthetic planning scan' },
      });
      caseId = c.json<{ id: string }>().id;
    });
    after(async () => api.close());

    test('the API accepts DICOM modalities, body parts and UIDs, and refuses the rest', async () => {
      for (const modality of modalities) {
        const r = await create({ modality });
        assert.equal(r.statusCode, 201, `${modality}: ${r.body}`);
        assert.equal(r.json<{ modality: string }>().modality, modality);
      }
      for (const modality of badModalities)
        assert.equal((await create({ modality })).statusCode, 400, JSON.stringify(modality));
      for (const bodyPart of bodyParts) {
        const r = await create({ modality: 'CT', bodyPart });
        assert.equal(r.statusCode, 201, `${bodyPart}: ${r.body}`);
        assert.equal(r.json<{ bodyPart: string }>().bodyPart, bodyPart);
      }
      for (const bodyPart of badBodyParts) {
        const r = await create({ modality: 'CT', bodyPart });
        assert.equal(r.statusCode, 400, JSON.stringify(bodyPart));
        assert.ok(!r.body.includes('John Doe'), 'the refused value is not echoed');
      }
      for (const uid of uids) {
        const r = await create({ modality: 'CT', studyUid: uid, seriesUid: uid, instanceUid: uid });
        assert.equal(r.statusCode, 201, `${uid}: ${r.body}`);
      }
      for (const uid of badUids)
        for (const field of ['studyUid', 'seriesUid', 'instanceUid'])
          assert.equal(
            (await create({ modality: 'CT', [field]: uid })).statusCode,
            400,
            `${field} ${uid}`,
          );
    });

    test('the table enforces the same rules', async () => {
      const insert = (column: string, value: string) => {
        const row: Record<string, string> = { modality: 'CT', [column]: value };
        const names = Object.keys(row);
        return api.t.db.asAdmin((tx) =>
          tx.query(
            `insert into clinical.medical_images (organization_id, id, case_id, patient_id,
                                                  content_type, ${names.join(', ')})
             values ($1, $2, $3, $4, 'image/png', ${names.map((_, i) => `$${i + 5}`).join(', ')})`,
            [orgId, randomUUID(), caseId, patientId, ...Object.values(row)],
          ),
        );
      };
      const refused = (e: unknown) => pgCode(e) === '23514';
      for (const v of modalities) await insert('modality', v);
      for (const v of badModalities.filter((x) => x !== ''))
        await assert.rejects(insert('modality', v), refused, v);
      for (const v of bodyParts) await insert('body_part', v);
      for (const v of badBodyParts) await assert.rejects(insert('body_part', v), refused, v);
      for (const column of ['study_uid', 'series_uid', 'instance_uid']) {
        for (const v of uids) await insert(column, v);
        for (const v of badUids) await assert.rejects(insert(column, v), refused, `${column} ${v}`);
      }
    });
  });
}
