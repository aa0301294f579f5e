"""The screening service: scores stored QuestionnaireResponses (Celery queue ``screening``)."""
