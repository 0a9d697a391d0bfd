/*
 * dfe_reference.h — the DfE CSC API sender's reference document, shared by
 * the tests that read it (test_dfe: parsed; test_record_reference: expanded
 * and folded). It is the staging SQL's "spec-maximal / reference payload"
 * (Sample Record 0 of populate_ssd_api_data_staging.sql, as
 * ../shared/research/dfe-sender.md, section 3, describes the document):
 * every field the staging SQL can fill, one child (Child1234), every date
 * 2022-06-14, and one id, ABC123456, for six kinds of item (the episode, the
 * assessment, the CIN plan, the Section 47 enquiry, the CP plan and the
 * placement). A JSON array of one document, as the sender posts it.
 */
#ifndef CSCFLOW_TESTS_DFE_REFERENCE_H
#define CSCFLOW_TESTS_DFE_REFERENCE_H

static const char dfe_reference[] =
    "[{\"la_child_id\":\"Child1234\",\"mis_child_id\":\"Supplier-Child-1234\",\"purge\":false,"
    "\"child_details\":{\"unique_pupil_number\":\"ABC0123456789\","
    "\"former_unique_pupil_number\":\"DEF0123456789\",\"unique_pupil_number_unknown_reason\":\"UN1\","
    "\"first_name\":\"John\",\"surname\":\"Doe\",\"date_of_birth\":\"2022-06-14\","
    "\"expected_date_of_birth\":\"2022-06-14\",\"sex\":\"M\",\"ethnicity\":\"WBRI\","
    "\"disabilities\":[\"HAND\",\"HEAR\"],\"postcode\":\"AB12 3DE\",\"uasc_flag\":true,"
    "\"uasc_end_date\":\"2022-06-14\",\"purge\":false},"
    "\"health_and_wellbeing\":{\"sdq_assessments\":[{\"date\":\"2022-06-14\",\"score\":20}],"
    "\"purge\":false},"
    "\"social_care_episodes\":[{\"social_care_episode_id\":\"ABC123456\","
    "\"referral_date\":\"2022-06-14\",\"referral_source\":\"1C\","
    "\"referral_no_further_action_flag\":false,"
    "\"care_worker_details\":[{\"worker_id\":\"ABC123\",\"start_date\":\"2022-06-14\","
    "\"end_date\":\"2022-06-14\"}],"
    "\"child_and_family_assessments\":[{\"child_and_family_assessment_id\":\"ABC123456\","
    "\"start_date\":\"2022-06-14\",\"authorisation_date\":\"2022-06-14\","
    "\"factors\":[\"1C\",\"4A\"],\"purge\":false}],"
    "\"child_in_need_plans\":[{\"child_in_need_plan_id\":\"ABC123456\",\"start_date\":\"2022-06-14\","
    "\"end_date\":\"2022-06-14\",\"purge\":false}],"
    "\"section_47_assessments\":[{\"section_47_assessment_id\":\"ABC123456\","
    "\"start_date\":\"2022-06-14\",\"icpc_required_flag\":true,\"icpc_date\":\"2022-06-14\","
    "\"end_date\":\"2022-06-14\",\"purge\":false}],"
    "\"child_protection_plans\":[{\"child_protection_plan_id\":\"ABC123456\","
    "\"start_date\":\"2022-06-14\",\"end_date\":\"2022-06-14\",\"purge\":false}],"
    "\"child_looked_after_placements\":[{\"child_looked_after_placement_id\":\"ABC123456\","
    "\"start_date\":\"2022-06-14\",\"start_reason\":\"P\",\"postcode\":\"AB12 3DE\","
    "\"placement_type\":\"K1\",\"end_date\":\"2022-06-14\",\"end_reason\":\"E3\","
    "\"change_reason\":\"CHILD\",\"purge\":false}],"
    "\"adoption\":{\"initial_decision_date\":\"2022-06-14\",\"matched_date\":\"2022-06-14\","
    "\"placed_date\":\"2022-06-14\",\"purge\":false},"
    "\"care_leavers\":{\"contact_date\":\"2022-06-14\",\"activity\":\"F\",\"accommodation\":\"B\","
    "\"purge\":false},"
    "\"closure_date\":\"2022-06-14\",\"closure_reason\":\"RC7\",\"purge\":false}]}]";

#endif
